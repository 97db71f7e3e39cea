// The --help layout: CLI11's, except that a name and its description are
// always at least two spaces apart. CLI11 pads names to a column and leaves a
// single space when a name is one short of it ("-o,--output TEXT=trace.mmio
// Trace file..."); help2man, which makes the man pages from --help
// (packaging/man.sh), needs two to tell an option from its description.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/commands.h"

namespace mmiotrace::cli {
namespace {

// CLI::detail::format_help, with the description on the next line unless two
// spaces fit after the name.
std::string format_help(const std::string& name, const std::string& description, size_t width) {
  std::string out = "  " + name;
  if (!description.empty()) {
    out += out.size() + 2 <= width ? std::string(width - out.size(), ' ') : "\n" + std::string(width, ' ');
    for (char c : description) {
      out += c;
      if (c == '\n') out += std::string(width, ' ');
    }
  }
  return out + "\n";
}

class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    return format_help(make_option_name(opt, is_positional) + make_option_opts(opt), make_option_desc(opt),
                       column_width_);
  }
  std::string make_subcommand(const CLI::App* sub) const override {
    return format_help(sub->get_display_name(true), sub->get_description(), column_width_);
  }
};

}  // namespace

std::shared_ptr<CLI::Formatter> make_help_formatter() { return std::make_shared<HelpFormatter>(); }

}  // namespace mmiotrace::cli
