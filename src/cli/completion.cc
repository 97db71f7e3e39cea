// mmiotrace completion bash|zsh: a shell completion script for mmiotrace,
// generated from the command line's own CLI11 description (every visible
// subcommand, its options, which of them take a value, the choices of those
// with a fixed set), so that it cannot drift from the options. The build
// writes both scripts and installs them (packaging/CMakeLists.txt);
// tests/install/completion_test.sh checks the bash one against each
// subcommand's --help.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace mmiotrace::cli {
namespace {

struct OptionInfo {
  std::vector<std::string> names;  // "-o", "--output"
  bool takes_value = false;
  bool repeats = false;
  bool hidden = false;               // group "": left out of --help, and of what we offer
  std::vector<std::string> choices;  // a CLI::IsMember set
  std::string type;                  // "FILE", "INT", ...
  std::string help;
};

struct PositionalInfo {
  std::string name;
  std::vector<std::string> choices;
  bool repeats = false;
};

struct CommandInfo {
  std::string name;
  std::string help;
  std::vector<OptionInfo> options;
  std::vector<PositionalInfo> positionals;
  bool prefix_command = false;  // the first positional word starts a command line of its own (record)
};

// A validator's description "{a,b,c}" inside the type name "TEXT:{a,b,c}".
std::vector<std::string> choices_of(const CLI::Option& o) {
  std::vector<std::string> out;
  static const std::regex kSet(R"(\{([^{}]*)\})");
  const std::string type = o.get_type_name();
  std::smatch m;
  if (!std::regex_search(type, m, kSet)) return out;
  std::string list = m[1];
  for (size_t start = 0; start <= list.size();) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

CommandInfo describe(CLI::App& app, const std::string& name) {
  CommandInfo c;
  c.name = name;
  c.help = app.get_description();
  c.prefix_command = app.get_prefix_command();
  for (CLI::Option* o : app.get_options()) {
    const bool repeats =
        o->get_items_expected_max() > 1 || o->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
    if (!o->nonpositional()) {
      c.positionals.push_back({o->get_name(true), choices_of(*o), repeats});
      continue;
    }
    OptionInfo info;
    for (const std::string& s : o->get_snames()) info.names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) info.names.push_back("--" + l);
    info.takes_value = o->get_expected_max() > 0 && o->get_type_size_max() > 0;  // flags expect 0
    info.repeats = repeats;
    info.hidden = o->get_group().empty();
    info.choices = choices_of(*o);
    info.type = o->get_type_name().substr(0, o->get_type_name().find(':'));
    info.help = o->get_description();
    c.options.push_back(std::move(info));
  }
  return c;
}

std::vector<CommandInfo> describe_subcommands(CLI::App& root) {
  std::vector<CommandInfo> out;
  for (CLI::App* sub : root.get_subcommands([](CLI::App* s) { return !s->get_group().empty(); }))
    out.push_back(describe(*sub, sub->get_name()));
  return out;
}

std::string join(const std::vector<std::string>& words, const char* sep = " ") {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

std::string bash_function_name(const std::string& sub) {
  return "_mmiotrace_" + std::regex_replace(sub, std::regex("[^A-Za-z0-9_]"), "_");
}

// The visible option names of a command, and the `case` pattern of those that take a value.
std::string visible_options(const CommandInfo& c) {
  std::vector<std::string> names;
  for (const OptionInfo& o : c.options)
    if (!o.hidden) names.insert(names.end(), o.names.begin(), o.names.end());
  return join(names);
}

std::string value_options_pattern(const CommandInfo& c) {
  std::vector<std::string> names;
  for (const OptionInfo& o : c.options)
    if (o.takes_value) names.insert(names.end(), o.names.begin(), o.names.end());
  return join(names, "|");
}

std::string bash_subcommand_function(const CommandInfo& c) {
  std::string f = "\n" + bash_function_name(c.name) + "() {  # INDEX: first word after '" + c.name + "'\n";
  f += "  local i=$1 w npos=0\n";
  f += "  for (( ; i < COMP_CWORD; i++)); do\n";
  f += "    w=${COMP_WORDS[i]}\n";
  f += "    case $w in\n";
  if (c.prefix_command) f += "      --) _mmiotrace_program $((i + 1)); return ;;\n";
  const std::string values = value_options_pattern(c);
  if (!values.empty()) f += "      " + values + ") [[ ${COMP_WORDS[i + 1]} == = ]] && ((i++)); ((i++)) ;;\n";
  f += "      -*) [[ ${COMP_WORDS[i + 1]} == = ]] && ((i += 2)) ;;\n";
  if (c.prefix_command)
    f += "      *) _mmiotrace_program \"$i\"; return ;;  # the program's name: the rest is its command line\n";
  else
    f += "      *) ((npos++)) ;;\n";
  f += "    esac\n";
  f += "  done\n";
  f += "  case $opt in  # the word is an option's value\n";
  for (const OptionInfo& o : c.options) {
    if (!o.takes_value) continue;
    f += "    " + join(o.names, "|") + ") ";
    f += o.choices.empty() ? "return ;;  # files, by bash's default completion\n"
                           : "_mmiotrace_reply '" + join(o.choices) + "'; return ;;\n";
  }
  f += "  esac\n";
  f += "  if [[ $cur == -* ]]; then _mmiotrace_reply '" + visible_options(c) + "'; return; fi\n";
  if (c.prefix_command) {
    f += "  _mmiotrace_program \"$COMP_CWORD\"\n";
  } else {
    std::string cases;
    for (size_t k = 0; k < c.positionals.size(); ++k) {
      const PositionalInfo& p = c.positionals[k];
      if (p.choices.empty()) continue;
      const std::string pattern =
          p.repeats && k + 1 == c.positionals.size() ? "[" + std::to_string(k) + "-9]*" : std::to_string(k);
      cases += "    " + pattern + ") _mmiotrace_reply '" + join(p.choices) + "' ;;  # " + p.name + "\n";
    }
    if (!cases.empty()) f += "  case $npos in\n" + cases + "  esac\n";
  }
  f += "}\n";
  return f;
}

std::string bash_script(const CommandInfo& root, const std::vector<CommandInfo>& subs, const std::string& version) {
  std::vector<std::string> names;
  names.reserve(subs.size());
  for (const CommandInfo& s : subs) names.push_back(s.name);
  std::string s =
      "# bash completion for mmiotrace. Generated by `mmiotrace completion bash` from\n"
      "# the command line's own description: do not edit. Words it leaves alone\n"
      "# (files, the traced program's arguments) get bash's default completion.\n"
      "# From " +
      version +
      ".\n"
      "\n"
      "_mmiotrace_reply() {  # WORDS: those that start with $cur\n"
      "  mapfile -t COMPREPLY < <(compgen -W \"$1\" -- \"$cur\")\n"
      "}\n"
      "\n"
      "_mmiotrace_program() {  # INDEX of the traced program's name in COMP_WORDS\n"
      "  if declare -F _command_offset >/dev/null; then\n"
      "    _command_offset \"$1\"  # bash-completion: the program's own completion\n"
      "  elif (($1 == COMP_CWORD)); then\n"
      "    mapfile -t COMPREPLY < <(compgen -c -- \"$cur\")\n"
      "  fi\n"
      "}\n"
      "\n"
      "_mmiotrace() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev= opt= i w sub= start=1\n"
      "  ((COMP_CWORD > 1)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
      "  COMPREPLY=()\n"
      "  # bash splits `--opt=value` at '=' (COMP_WORDBREAKS)\n"
      "  if [[ $cur == = ]]; then\n"
      "    opt=$prev cur=\n"
      "  elif [[ $prev == = ]]; then\n"
      "    opt=${COMP_WORDS[COMP_CWORD - 2]}\n"
      "  else\n"
      "    opt=$prev\n"
      "  fi\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=${COMP_WORDS[i]}\n"
      "    case $w in\n"
      "      -*) ;;\n"
      "      *) sub=$w start=$((i + 1)); break ;;\n"
      "    esac\n"
      "  done\n"
      "  case $sub in\n"
      "    '')\n"
      "      if [[ $cur == -* ]]; then _mmiotrace_reply '" +
      visible_options(root) + "'; else _mmiotrace_reply '" + join(names) + "'; fi ;;\n";
  for (const CommandInfo& c : subs) s += "    " + c.name + ") " + bash_function_name(c.name) + " \"$start\" ;;\n";
  s += "  esac\n}\n";
  for (const CommandInfo& c : subs) s += bash_subcommand_function(c);
  s += "\ncomplete -o bashdefault -o default -F _mmiotrace mmiotrace\n";
  return s;
}

// Text inside a zsh _arguments spec, in single quotes: its first sentence, with
// the characters _arguments gives a meaning escaped.
std::string zsh_quote(std::string text) {
  if (size_t dot = text.find(". "); dot != std::string::npos) text.resize(dot);
  std::string out;
  for (char ch : text) {
    if (ch == '\'')
      out += "'\\''";
    else if (ch == '[' || ch == ']' || ch == ':' || ch == '\\')
      out += std::string("\\") + ch;
    else
      out += ch;
  }
  return out;
}

std::string zsh_action(const std::vector<std::string>& choices, const std::string& type) {
  if (!choices.empty()) return "(" + join(choices) + ")";
  if (type == "INT" || type == "UINT" || type == "FLOAT" || type == "NUMBER") return " ";
  return "_files";
}

std::string zsh_arguments(const CommandInfo& c, const std::string& indent) {
  std::string a = "_arguments -s -S";
  auto add = [&](const std::string& spec) {  // one spec per line
    a += " \\\n";
    a += indent;
    a += "  ";
    a += spec;
  };
  for (const OptionInfo& o : c.options) {
    if (o.hidden) continue;
    std::string names = o.names.size() == 1 ? o.names[0] : "{" + join(o.names, ",") + "}";
    std::string exclusive = o.repeats ? "'*'" : (o.names.size() > 1 ? "'(" + join(o.names) + ")'" : "");
    std::string spec = exclusive + names + "'[" + zsh_quote(o.help) + "]";
    if (o.takes_value) spec += ":" + zsh_quote(o.type.empty() ? "value" : o.type) + ":" + zsh_action(o.choices, o.type);
    add(spec + "'");
  }
  if (c.prefix_command) {
    add("'(-)1:program:_command_names -e'");
    add("'*::program arguments:_normal'");
  } else {
    for (size_t k = 0; k < c.positionals.size(); ++k) {
      const PositionalInfo& p = c.positionals[k];
      std::string pos = p.repeats && k + 1 == c.positionals.size() ? "*" : std::to_string(k + 1);
      add("'" + pos + ":" + zsh_quote(p.name) + ":" + zsh_action(p.choices, "") + "'");
    }
  }
  return a;
}

std::string zsh_script(const CommandInfo& root, const std::vector<CommandInfo>& subs, const std::string& version) {
  std::string s =
      "#compdef mmiotrace\n"
      "# zsh completion for mmiotrace. Generated by `mmiotrace completion zsh` from\n"
      "# the command line's own description: do not edit.\n"
      "# From " +
      version +
      ".\n\n"
      "_mmiotrace() {\n"
      "  local curcontext=$curcontext state line\n"
      "  local -a subcommands\n"
      "  subcommands=(\n";
  for (const CommandInfo& c : subs) s += "    '" + c.name + ":" + zsh_quote(c.help) + "'\n";
  s += "  )\n";
  CommandInfo top = root;
  top.positionals.clear();
  std::string args = zsh_arguments(top, "  ");
  s += "  " + args + " \\\n    '1:subcommand:->subcommand' \\\n    '*::argument:->argument'\n";
  s += "  case $state in\n"
       "    subcommand) _describe -t subcommands 'mmiotrace subcommand' subcommands ;;\n"
       "    argument)\n"
       "      curcontext=${curcontext%:*:*}:mmiotrace-$line[1]:\n"
       "      case $line[1] in\n";
  for (const CommandInfo& c : subs)
    s += "        " + c.name + ")\n          " + zsh_arguments(c, "          ") + " ;;\n";
  s += "      esac ;;\n  esac\n}\n\n_mmiotrace \"$@\"\n";
  return s;
}

}  // namespace

void add_completion_command(CLI::App& root, Action& run, const std::string& version) {
  auto shell = std::make_shared<std::string>();
  auto* sub = root.add_subcommand("completion", "Print a shell completion script for mmiotrace (bash or zsh)");
  sub->add_option("SHELL", *shell, "bash or zsh")->check(CLI::IsMember({"bash", "zsh"}))->required();
  sub->footer(
      "Installed packages load it by themselves; by hand:\n"
      "  source <(mmiotrace completion bash)          # bash, this shell\n"
      "  mmiotrace completion zsh > ~/.zfunc/_mmiotrace   # zsh, with ~/.zfunc in fpath");
  sub->callback([&run, &root, shell, version] {
    run = [&root, shell, version] {
      CommandInfo top = describe(root, "mmiotrace");
      std::vector<CommandInfo> subs = describe_subcommands(root);
      const std::string script = *shell == "bash" ? bash_script(top, subs, version) : zsh_script(top, subs, version);
      if (std::fputs(script.c_str(), stdout) < 0 || std::fflush(stdout) != 0) {
        print_error("cannot write the completion script to standard output");
        return kExitIoErr;
      }
      return 0;
    };
  });
}

}  // namespace mmiotrace::cli
