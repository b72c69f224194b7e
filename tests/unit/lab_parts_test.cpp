// lab: the pure parts (nginx configuration, HTTP response parsing, timeline formatting, change
// intervals) without a namespace or root.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lab/lab.hpp"

namespace lab = sockdoctor::lab;

TEST(LabNginx, ConfigKeepsEverythingInThePrefixAndSetsTheTimeout) {
  const std::string c = lab::nginx_config_text({"/tmp/sd-x", 80, 3});
  for (const char* line :
       {"daemon off;", "master_process off;", "pid /tmp/sd-x/nginx.pid;",
        "error_log /tmp/sd-x/error.log info;", "access_log /tmp/sd-x/access.log;",
        "client_body_temp_path /tmp/sd-x/client_body;", "proxy_temp_path /tmp/sd-x/proxy;",
        "fastcgi_temp_path /tmp/sd-x/fastcgi;", "uwsgi_temp_path /tmp/sd-x/uwsgi;",
        "scgi_temp_path /tmp/sd-x/scgi;", "keepalive_timeout 3;", "listen 127.0.0.1:80;"})
    EXPECT_NE(c.find(line), std::string::npos) << line << "\n" << c;
  // Loopback only, and no path outside the prefix.
  EXPECT_EQ(c.find("listen 80"), std::string::npos);
  EXPECT_EQ(c.find("/var/"), std::string::npos);
  EXPECT_EQ(c.find("/etc/"), std::string::npos);
  // Balanced braces: nginx refuses the file otherwise.
  EXPECT_EQ(std::count(c.begin(), c.end(), '{'), std::count(c.begin(), c.end(), '}'));
}

TEST(LabNginx, VersionFromNginxV) {
  EXPECT_EQ(lab::parse_nginx_version("nginx version: nginx/1.22.1\n"), "nginx/1.22.1");
  EXPECT_EQ(lab::parse_nginx_version("nginx version: nginx/1.25.3 (Ubuntu)\n"), "nginx/1.25.3");
  EXPECT_EQ(lab::parse_nginx_version("command not found"), "");
  EXPECT_EQ(lab::parse_nginx_version("nginx/"), "");
}

TEST(LabNginx, FoundOnAbsolutePathEntriesOnly) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sd-lab-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto exe = dir / "nginx";
  std::ofstream(exe) << "#!/bin/sh\n";
  ::chmod(exe.c_str(), 0755);
  const std::string path = "relative/dir:" + dir.string() + ":/nonexistent";
  EXPECT_EQ(lab::find_nginx(path.c_str()), exe.string());
  ::chmod(exe.c_str(), 0644); // not executable: skipped
  const auto fallback = lab::find_nginx(path.c_str());
  EXPECT_NE(fallback, exe.string());
  std::filesystem::remove_all(dir);
}

TEST(LabHttp, ResponseHeadNeedsACompleteHeaderAndALength) {
  EXPECT_FALSE(lab::parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"));
  auto r = lab::parse_response_head("HTTP/1.1 200 OK\r\nServer: x\r\ncontent-length: 17\r\n\r\nhe");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r->content_length, 17u);
  EXPECT_EQ(r->header_bytes, 50u);
  EXPECT_FALSE(lab::parse_response_head("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n")); // no length
  EXPECT_FALSE(lab::parse_response_head("SSH-2.0-x\r\nContent-Length: 1\r\n\r\n"));
  EXPECT_FALSE(lab::parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n"));
  EXPECT_FALSE(lab::parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n"));
}

TEST(LabHttp, TheArticlesRequestIsWellFormed) {
  const std::string req = lab::article_request();
  EXPECT_EQ(req.rfind("GET /user?time=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(req.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  EXPECT_NE(req.find("q=0.3\r\n"), std::string::npos); // the article lost this CRLF
  EXPECT_EQ(req.substr(req.size() - 4), "\r\n\r\n");
  EXPECT_EQ(req.find("\r\n\r\n"), req.size() - 4);
}

TEST(LabHttp, MonotonicStampsRoundTrip) {
  const auto before = std::chrono::steady_clock::now();
  const auto stamp = lab::parse_mono_stamp(lab::mono_stamp() + " HTTP/1.1 200 OK");
  ASSERT_TRUE(stamp);
  EXPECT_GE(*stamp, before);
  EXPECT_LE(*stamp, std::chrono::steady_clock::now());
  EXPECT_FALSE(lab::parse_mono_stamp("abc"));
  EXPECT_FALSE(lab::parse_mono_stamp(""));
}

TEST(LabTimeline, StatesPrintLikeNetstat) {
  EXPECT_EQ(lab::display_state("close_wait"), "CLOSE_WAIT");
  EXPECT_EQ(lab::display_state("fin_wait2"), "FIN_WAIT2");
  EXPECT_EQ(lab::display_state("gone"), "-");
  EXPECT_EQ(lab::display_state("close"), "CLOSE");
}

TEST(LabTimeline, RowsAlignAndEscapeEvents) {
  lab::TimelineEntry e;
  e.t = 3.04;
  e.clock = "12:00:03";
  e.states = {{"client", "close_wait"}, {"server", "fin_wait2"}};
  e.events = {{"server_closed", "peer \x1b[31mred"}, {"x", "second"}};
  const std::string row = lab::format_timeline_row(e, {11, 11});
  EXPECT_EQ(row, "12:00:03    3.0s  CLOSE_WAIT   FIN_WAIT2    peer \\x1b[31mred; second");
  // An events-only row keeps its text in the events column.
  lab::TimelineEntry note;
  note.clock = "12:00:04";
  note.t = 4;
  note.events = {{"k", "hello"}};
  EXPECT_EQ(lab::format_timeline_row(note, {11, 11}),
            "12:00:04    4.0s" + std::string(28, ' ') + "hello");
  lab::TimelineEntry counts;
  counts.clock = "12:00:05";
  counts.t = 5;
  counts.counts = {{"time_wait", 96}};
  EXPECT_EQ(lab::format_timeline_row(counts, {9}), "12:00:05    5.0s         96");
}

TEST(LabTimeline, WrapsAtWordBoundaries) {
  EXPECT_EQ(lab::wrap_text("aaa bbb ccc", 7, 2), "aaa bbb\n  ccc");
  EXPECT_EQ(lab::wrap_text("one", 2, 0), "one"); // a long word is not split
  EXPECT_EQ(lab::wrap_text("a  b", 80, 0), "a b");
}

TEST(LabChange, IntervalBetweenSamples) {
  lab::Change c;
  EXPECT_FALSE(c.seen());
  EXPECT_EQ(c.since(0), "never");
  EXPECT_FALSE(c.within(0, 5, 0.5, 2));
  c.sample(2.0, false);
  c.sample(4.8, false);
  c.sample(5.1, true);
  c.sample(9.0, false); // ignored once seen
  EXPECT_EQ(c.since(0), "5.1 s");
  EXPECT_TRUE(c.within(0, 5, 0.5, 2));
  EXPECT_FALSE(c.within(0, 2, 0.5, 2));
  // A slow sample widens the interval: it happened somewhere in (2.8, 7.7].
  lab::Change slow;
  slow.sample(2.8, false);
  slow.sample(7.7, true);
  EXPECT_EQ(slow.since(1.0), "1.8-6.7 s");
  EXPECT_TRUE(slow.within(1.0, 4, 0.5, 2));
  EXPECT_FALSE(slow.within(1.0, 10, 0.5, 2));
}

TEST(LabScenarios, ListedWithDurationsUnder90Seconds) {
  const auto& s = lab::scenarios();
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].name, "close-wait");
  EXPECT_EQ(s[1].name, "keepalive");
  EXPECT_EQ(s[2].name, "time-wait");
  EXPECT_EQ(s[3].name, "fin-wait-2");
  EXPECT_EQ(s[4].name, "kill");
  for (const auto& x : s) {
    EXPECT_NE(x.run, nullptr);
    EXPECT_FALSE(x.description.empty());
    EXPECT_NE(x.duration.find("--fast"), std::string_view::npos);
  }
}

TEST(LabResult, PassedNeedsEveryCheckAndNoError) {
  lab::Result r;
  EXPECT_TRUE(r.passed());
  r.checks.push_back({"a", "x", "y", true});
  EXPECT_TRUE(r.passed());
  r.checks.push_back({"b", "x", "y", false});
  EXPECT_FALSE(r.passed());
  r.checks.pop_back();
  r.error = "boom";
  EXPECT_FALSE(r.passed());
}

// A lab killed with SIGKILL leaves its nginx directory behind; the next lab removes it, and only
// it: a directory whose creator still runs, a symlink and a name not ours stay.
TEST(LabTempDir, TheNextStartRemovesDirectoriesOfDeadLabs) {
  char tmpl[] = "/tmp/sockdoctor-labtmp-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path base = tmpl;
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(dead, &status, 0), dead);
  const auto named = [&](pid_t pid, const char* suffix) {
    return base / ("sockdoctor-lab-nginx-" + std::to_string(pid) + "-" + suffix);
  };
  std::filesystem::create_directories(named(dead, "aaaaaa") / "logs");
  std::ofstream(named(dead, "aaaaaa") / "logs/error.log") << "left behind\n";
  std::filesystem::create_directory(named(::getpid(), "bbbbbb"));          // alive: ours
  std::filesystem::create_directory_symlink(base, named(dead, "cccccc"));  // not a directory
  std::filesystem::create_directory(base / "sockdoctor-lab-nginx-dddddd"); // no pid in the name
  ASSERT_EQ(::setenv("TMPDIR", tmpl, 1), 0);
  {
    auto dir = sockdoctor::lab::TempDir::create("nginx");
    ::unsetenv("TMPDIR");
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_NE(dir->path().find("-" + std::to_string(::getpid()) + "-"), std::string::npos)
        << dir->path();
    EXPECT_FALSE(std::filesystem::exists(named(dead, "aaaaaa")));
    EXPECT_TRUE(std::filesystem::exists(named(::getpid(), "bbbbbb")));
    EXPECT_TRUE(std::filesystem::is_symlink(named(dead, "cccccc")));
    EXPECT_TRUE(std::filesystem::exists(base / "sockdoctor-lab-nginx-dddddd"));
  }
  std::filesystem::remove_all(base);
}
