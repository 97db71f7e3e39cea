// stats, diff, export and report from the command line, on two kernel logs
// of an e1000 probe (tests/data/analysis): one where the link comes up
// (STATUS polled until LU is set), one where it does not (the poll gives up,
// the driver writes another RDBAL and clears CTRL). Exact output, exit
// statuses (diff's are diff(1)'s), and outputs that appear whole or not at all.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace mmiotrace::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kUp = std::string(E2E_DATA_DIR) + "/analysis/e1000_link_up.log";
const std::string kDown = std::string(E2E_DATA_DIR) + "/analysis/e1000_link_down.log";

struct Ran {
  int status = -1;
  std::string out;
  std::string err;
};

Ran mmiotrace(std::vector<std::string> args) {
  args.insert(args.begin(), mmiotrace_path());
  Ran r;
  r.status = exit_status(run_command(args, &r.out, &r.err));
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string scratch(const std::string& name) {
  // One folder per test and per suite run: ctest runs tests in parallel, and the
  // suite's patch1: twin of a test at the same time as the test itself.
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = work_dir() + "/" + test->test_suite_name() + "." + test->name();
  fs::create_directories(dir);
  const std::string path = dir + "/" + name;
  fs::remove(path);
  return path;
}

TEST(StatsCommand, RegistersPollsSitesThreads) {
  const Ran r = mmiotrace({"stats", "--regs", "e1000", kUp});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "accesses: 10 (6 reads, 4 writes)\n"
            "mappings: 1; threads: 1; processes: 1; unknown instructions: 0; lost: 0\n"
            "time: 1.000200 .. 1.000770 (0.000570 s)\n"
            "\n"
            "registers: 4\n"
            "  REGISTER                         READS    WRITES  VALUES  FIRST            LAST             SOME VALUES "
            "                 SITES\n"
            "  e1000 CTRL                           1         2       3  1.000200         1.000400         0x4000000 "
            "0x0 0x40           pid 0 0xffffffffc03a1000 x1, pid 0 0xffffffffc03a1010 x1, pid 0 0xffffffffc03a1020 x1\n"
            "  e1000 STATUS                         5         0       2  1.000500         1.000700         0x80080781 "
            "0x80080783        pid 0 0xffffffffc03a1030 x5\n"
            "  e1000 RCTL                           0         1       1  1.000770         1.000770         0x400801a   "
            "                 pid 0 0xffffffffc03a1050 x1\n"
            "  e1000 RDBAL                          0         1       1  1.000760         1.000760         0x12340000  "
            "                 pid 0 0xffffffffc03a1040 x1\n"
            "\n"
            "polling loops: 1\n"
            "  R e1000 STATUS x 4 until LU set  (1 loop, the longest 4 reads, at pid 0 0xffffffffc03a1030)\n"
            "\n"
            "sites: 6 (no symbols: the trace has no code maps); the hottest:\n"
            "          5  (5 R, 0 W)  pid 0 0xffffffffc03a1030\n"
            "          1  (0 R, 1 W)  pid 0 0xffffffffc03a1000\n"
            "          1  (1 R, 0 W)  pid 0 0xffffffffc03a1010\n"
            "          1  (0 R, 1 W)  pid 0 0xffffffffc03a1020\n"
            "          1  (0 R, 1 W)  pid 0 0xffffffffc03a1040\n"
            "          1  (0 R, 1 W)  pid 0 0xffffffffc03a1050\n"
            "\n"
            "threads:\n"
            "  tid 0 (pid 0)  10 accesses (6 R, 4 W)  1.000200 .. 1.000770\n"
            "processes:\n"
            "  pid 0  10 accesses (6 R, 4 W)  1.000200 .. 1.000770\n");
}

TEST(StatsCommand, FilteredJsonAndTop) {
  // The link that never comes up: the poll ends without a change, and
  // --top 2 keeps the two hottest sites; --reg keeps STATUS and CTRL only.
  const std::string out = scratch("stats.json");
  Ran r = mmiotrace(
      {"stats", "--json", "--top", "2", "--regs", "e1000", "--reg", "STATUS", "--reg", "CTRL", "-o", out, kDown});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const std::string json = slurp(out);
  EXPECT_EQ(json.substr(0, json.find('\n')),
            "{\"accesses\":10,\"reads\":7,\"writes\":3,\"accesses_in_trace\":12,\"maps\":1,\"threads\":1,"
            "\"processes\":1,\"unknown\":0,\"lost\":0,\"first_ns\":1000200000,\"last_ns\":1000820000,")
      << json;
  EXPECT_NE(json.find("{\"register\":\"e1000 STATUS\",\"site\":3,\"until\":null,\"loops\":1,\"reads\":6,"
                      "\"max_reads\":6,\"first_ns\":1000500000}"),
            std::string::npos)
      << json;
  r = mmiotrace({"stats", "--top", "2", "--regs", "e1000", kDown});
  const size_t hot = r.out.find("the hottest:\n");
  ASSERT_NE(hot, std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(hot, r.out.find("\n\n", hot) - hot),
            "the hottest:\n"
            "          6  (6 R, 0 W)  pid 0 0xffffffffc03a1030\n"
            "          1  (0 R, 1 W)  pid 0 0xffffffffc03a1000");
}

const char* const kUpDownDiff =
    "  R e1000 CTRL => SPEED=10M  [A #8 B #8]\n"
    "  W e1000 CTRL <= SLU | SPEED=10M  [A #9 B #9]\n"
    "  R e1000 STATUS => FD | SPEED=1000M | ASDV=0x3 | MTXCKOK | GIO_MASTER_ENABLE | 0x80000000 x 4  [A #10 B #10]\n"
    "- R e1000 STATUS => FD | LU | SPEED=1000M | ASDV=0x3 | MTXCKOK | GIO_MASTER_ENABLE | 0x80000000  [A #14]\n"
    "~ W e1000 RDBAL: A <= 0x12340000  B <= 0x56780000  (0x12340000 -> 0x56780000)  [A #16 B #16]\n"
    "  W e1000 RCTL <= EN | UPE | MPE | RDMTS=HALF | BAM | BSIZE=2048 | SECRC  [A #17 B #17]\n"
    "+ W e1000 CTRL <= SPEED=10M  [B #18]\n";

TEST(DiffCommand, LinkUpAgainstLinkDown) {
  const Ran r = mmiotrace({"diff", "--regs", "e1000", kUp, kDown});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.out, "--- A " + kUp + "\n+++ B " + kDown + "\n@@ A #8 B #8 @@\n" + kUpDownDiff +
                       "# 7 register accesses in A, 7 in B: 1 only in A, 1 only in B, 1 with another value; registers "
                       "that differ: e1000 STATUS e1000 RDBAL e1000 CTRL\n");
}

TEST(DiffCommand, IgnoredRegistersAndTheSameTrace) {
  // RDBAL (a DMA address) ignored: what is left is the link.
  Ran r = mmiotrace({"diff", "-U", "0", "--regs", "e1000", "--ignore-register", "RDBAL", kUp, kDown});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.out, "--- A " + kUp + "\n+++ B " + kDown +
                       "\n@@ A #14 @@\n"
                       "- R e1000 STATUS => FD | LU | SPEED=1000M | ASDV=0x3 | MTXCKOK | GIO_MASTER_ENABLE | "
                       "0x80000000  [A #14]\n"
                       "@@ B #18 @@\n"
                       "+ W e1000 CTRL <= SPEED=10M  [B #18]\n"
                       "# 6 register accesses in A, 6 in B: 1 only in A, 1 only in B, 0 with another value; "
                       "registers that differ: e1000 STATUS e1000 CTRL\n");
  r = mmiotrace({"diff", "--regs", "e1000", kUp, kUp});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "--- A " + kUp + "\n+++ B " + kUp + "\n# 7 register accesses in A, 7 in B: the same\n");
}

TEST(DiffCommand, TroubleIsExitTwo) {
  Ran r = mmiotrace({"diff", kUp, "/nonexistent/b.log"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "mmiotrace: cannot open trace file '/nonexistent/b.log': No such file or directory\n");
  r = mmiotrace({"diff", "--no-such-option", kUp, kDown});
  EXPECT_EQ(r.status, 2) << r.err;
  r = mmiotrace({"diff", "--regs", "no-such-map", kUp, kDown});
  EXPECT_EQ(r.status, 2) << r.err;
}

// Rows of an SQL query, "|"-separated as sqlite3's shell prints them.
std::vector<std::string> query(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  while (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      const unsigned char* t = sqlite3_column_text(s, i);
      row += (i ? "|" : "") + std::string(t != nullptr ? reinterpret_cast<const char*>(t) : "");
    }
    rows.push_back(row);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return rows;
}

TEST(ExportCommand, SqliteAndChromeInOnePass) {
  const std::string db = scratch("up.sqlite");
  const std::string json = scratch("up.json");
  const Ran r = mmiotrace({"export", "--regs", "e1000", "--sqlite", db, "--chrome", json, "--counter", "STATUS", kUp});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(query(db, "SELECT register, count(*), sum(op = 'W') FROM access_names GROUP BY register ORDER BY 1"),
            (std::vector<std::string>{"CTRL|3|2", "RCTL|1|1", "RDBAL|1|1", "STATUS|5|0"}));
  EXPECT_EQ(
      query(db,
            "SELECT seq, value_hex, decoded FROM access_names WHERE register = 'STATUS' ORDER BY seq DESC "
            "LIMIT 1"),
      (std::vector<std::string>{
          "14|0x80080783|STATUS => FD | LU | SPEED=1000M | ASDV=0x3 | MTXCKOK | GIO_MASTER_ENABLE | 0x80000000"}));
  EXPECT_EQ(query(db, "SELECT seq, text FROM marks ORDER BY seq"), (std::vector<std::string>{"5|probe", "15|link up"}));
  EXPECT_EQ(query(db, "SELECT value FROM meta WHERE key = 'schema'"), (std::vector<std::string>{"1"}));
  const std::string events = slurp(json);
  EXPECT_NE(events.find("{\"name\":\"W e1000 RDBAL\",\"cat\":\"access\",\"ph\":\"i\",\"ts\":1000760.000,\"pid\":0,"
                        "\"tid\":0,\"s\":\"t\",\"args\":{\"seq\":16,\"op\":\"W\",\"width\":4,\"phys\":\"0xfeb82800\","
                        "\"offset\":\"0x2800\",\"value\":\"0x12340000\",\"register\":\"RDBAL <= 0x12340000\","
                        "\"pc\":\"0xffffffffc03a1040\"}}"),
            std::string::npos)
      << events;
  EXPECT_NE(events.find("\"cat\":\"counter\",\"ph\":\"C\",\"ts\":1000700.000,\"pid\":0,\"tid\":0,\"args\":{\"value\":"
                        "2148009859}}"),
            std::string::npos)
      << events;  // STATUS's last value, 0x80080783, as a counter
  EXPECT_EQ(events.substr(events.size() - 4), "\n]}\n");
}

TEST(ExportCommand, NothingHalfWritten) {
  // A damaged input: neither output appears, and an old file of that name stays as it was.
  const std::string bad = scratch("bad.log");
  std::ofstream(bad) << slurp(kUp) << "W 4 zz\n";
  const std::string db = scratch("bad.sqlite");
  const std::string json = scratch("bad.json");
  std::ofstream(json) << "old";
  const Ran r = mmiotrace({"export", "--sqlite", db, "--chrome", json, bad});
  EXPECT_EQ(r.status, 65) << r.err;
  EXPECT_FALSE(fs::exists(db));
  EXPECT_EQ(slurp(json), "old");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const auto& entry : fs::directory_iterator(fs::path(db).parent_path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
}

TEST(ReportCommand, OnePageWithItsData) {
  const std::string html = scratch("up.html");
  const Ran r = mmiotrace({"report", "--regs", "e1000", "-o", html, kUp});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string page = slurp(html);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u) << page.substr(0, 100);
  EXPECT_EQ(page.find("http://"), std::string::npos);  // nothing fetched
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_NE(page.find("\"accesses\":10,\"reads\":6,\"writes\":4"), std::string::npos);
}

}  // namespace
}  // namespace mmiotrace::e2e
