// The HTML report (mmiotrace report, docs/report.md) as a person sees it: the
// page is opened in headless Chromium (Debian's chromium package, installed by
// scripts/setup.sh), which runs its script and prints the document it built
// (--dump-dom). The page must load with no script error and no request for
// anything outside itself, and show the counts of a known trace: the e1000
// link-up kernel log of tests/data/analysis (10 accesses, 6 reads, 4 writes).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace mmiotrace::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kUp = std::string(E2E_DATA_DIR) + "/analysis/e1000_link_up.log";

// The text of the element with this id (its first line of text), or a note that it is missing.
std::string text_of(const std::string& dom, const std::string& id) {
  std::smatch m;
  if (!std::regex_search(dom, m, std::regex("id=\"" + id + "\"[^>]*>([^<]*)<"))) return "(no #" + id + ")";
  return m[1];
}

// The rows of the body of the table with this id.
size_t rows_of(const std::string& dom, const std::string& id) {
  const size_t at = dom.find("<table id=\"" + id + "\"");
  if (at == std::string::npos) return 0;
  const size_t body = dom.find("<tbody>", at), end = dom.find("</tbody>", at);
  if (body == std::string::npos || end == std::string::npos) return 0;
  size_t n = 0;
  for (size_t p = dom.find("<tr", body); p != std::string::npos && p < end; p = dom.find("<tr", p + 1)) ++n;
  return n;
}

struct Page {
  std::string dom;
  std::string log;  // Chromium's own log: console messages and blocked requests
  int status = -1;
};

// Opens `html` (with `fragment`, the part after '#', if any) in headless
// Chromium and returns the document its script built.
Page open_in_chromium(const std::string& html, const std::string& dir, const std::string& fragment = "") {
  Page page;
  fs::remove_all(dir + "/profile");
  // --no-sandbox: the tests may run as root, where Chromium's sandbox refuses
  // to start. `timeout` ends a hang; it is no deadline a loaded machine misses.
  page.status = run_command(
      {"/usr/bin/timeout", "600", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
       "--disable-extensions", "--user-data-dir=" + dir + "/profile", "--enable-logging=stderr", "--v=0", "--dump-dom",
       "file://" + html + (fragment.empty() ? "" : "#" + fragment)},
      &page.dom, &page.log);
  return page;
}

// The running test's own scratch folder, empty.
std::string test_dir() {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = work_dir() + "/" + test->test_suite_name() + "." + test->name();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// `mmiotrace report` of the e1000 link-up log, named with the shipped map: "" or what went wrong.
std::string write_report(const std::string& html) {
  std::string out, err;
  const int status = run_command({mmiotrace_path(), "report", "--regs", "e1000", "-o", html, kUp}, &out, &err);
  return status == 0 ? "" : "mmiotrace report failed: " + err;
}

TEST(ReportInBrowser, LoadsWithoutErrorsAndShowsTheCounts) {
  const std::string dir = test_dir();
  const std::string html = dir + "/report.html";
  ASSERT_EQ(write_report(html), "");

  const Page page = open_in_chromium(html, dir);
  ASSERT_TRUE(WIFEXITED(page.status) && WEXITSTATUS(page.status) == 0)
      << "chromium failed (is it installed? scripts/setup.sh installs it): " << page.log;
  const std::string& dom = page.dom;
  ASSERT_NE(dom.find("<body"), std::string::npos) << page.log;
  // The page's script ran to its end (it sets the status last) and caught no error.
  EXPECT_NE(dom.find("data-status=\"ok\""), std::string::npos) << text_of(dom, "errors") << page.log;
  EXPECT_NE(dom.find("<pre id=\"errors\" hidden=\"\"></pre>"), std::string::npos) << text_of(dom, "errors");
  // Nothing the console reports: no uncaught exception, no blocked or failed load.
  for (const char* bad : {"Uncaught", "Refused to", "net::ERR_", "Failed to load"})
    EXPECT_EQ(page.log.find(bad), std::string::npos) << bad << " in:\n" << page.log;

  // The summary and the tables, as the page computed them from its data.
  EXPECT_EQ(text_of(dom, "total-accesses"), "10");
  EXPECT_EQ(text_of(dom, "total-reads"), "6");
  EXPECT_EQ(text_of(dom, "total-writes"), "4");
  EXPECT_EQ(text_of(dom, "register-count"), "4");  // CTRL, STATUS, RDBAL, RCTL
  EXPECT_EQ(text_of(dom, "thread-count"), "1");
  EXPECT_EQ(text_of(dom, "unknown-count"), "0");
  EXPECT_EQ(text_of(dom, "lost-count"), "0");
  EXPECT_EQ(rows_of(dom, "accesses"), 10u);
  EXPECT_EQ(text_of(dom, "shown-rows"), "10 shown of 10 matching; the table holds 10 of 10 accesses");
  EXPECT_EQ(rows_of(dom, "top-registers"), 4u);
  EXPECT_NE(dom.find("<td class=\"mono\">e1000 STATUS</td><td class=\"n\">5</td><td class=\"n\">5</td>"
                     "<td class=\"n\">0</td>"),
            std::string::npos);
  // Two phases between the log's MARKs: the probe (6 reads, 2 writes), then link up.
  EXPECT_EQ(rows_of(dom, "phases"), 2u);
  EXPECT_NE(dom.find("<tr><td>probe</td><td class=\"n\">1.000000</td><td class=\"n\">0.000750</td>"
                     "<td class=\"n\">6</td><td class=\"n\">2</td>"),
            std::string::npos);
  EXPECT_NE(dom.find("CTRL &lt;= SPEED=10M | RST"), std::string::npos);  // decoded fields in the access table
  EXPECT_GT(rows_of(dom, "heatmap"), 0u);
}

// The access table's filters, set from the page's address as a person shares
// a filtered view (#register=STATUS&op=R): the rows that match, and only those.
TEST(ReportInBrowser, AccessTableFiltersFromTheAddress) {
  const std::string dir = test_dir();
  const std::string html = dir + "/report.html";
  ASSERT_EQ(write_report(html), "");
  const struct {
    const char* fragment;
    unsigned matching;
    const char* in_every_row;  // text each shown row holds, or ""
  } cases[] = {
      {"register=STATUS&op=R", 5, "e1000 STATUS"},  // the link-up log: STATUS read 5 times, never written
      {"register=STATUS&op=W", 0, ""},
      {"op=W", 4, ""},
      {"register=C*", 3, "e1000 CTRL"},  // a glob: CTRL (written twice, read once)
      {"text=rst", 1, "RST"},            // in the decoded fields: CTRL <= SPEED=10M | RST
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fragment);
    const Page page = open_in_chromium(html, dir, c.fragment);
    ASSERT_TRUE(WIFEXITED(page.status) && WEXITSTATUS(page.status) == 0) << page.log;
    const std::string& dom = page.dom;
    EXPECT_NE(dom.find("data-status=\"ok\""), std::string::npos) << text_of(dom, "errors") << page.log;
    EXPECT_EQ(text_of(dom, "shown-rows"), std::to_string(c.matching) + " shown of " + std::to_string(c.matching) +
                                              " matching; the table holds 10 of 10 accesses");
    EXPECT_EQ(rows_of(dom, "accesses"), c.matching);
    if (*c.in_every_row == 0) continue;
    const size_t at = dom.find("<table id=\"accesses\"");
    const size_t end = dom.find("</tbody>", at);
    ASSERT_NE(at, std::string::npos);
    for (size_t p = dom.find("<tr", dom.find("<tbody>", at)); p != std::string::npos && p < end;
         p = dom.find("<tr", p + 1)) {
      const std::string row = dom.substr(p, dom.find("</tr>", p) - p);
      EXPECT_NE(row.find(c.in_every_row), std::string::npos) << row;
    }
  }
}

}  // namespace
}  // namespace mmiotrace::e2e
