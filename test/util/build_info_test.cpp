// The revision a build reports (kube_metrics_bridge_build_info, --version) is the commit its
// sources are at when it was built, not the one its build tree was configured at.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/test_util.h"
#include "kmb/util/log.h"

namespace kmb {
namespace {

using testing::RunCommand;
using testing::TempDir;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs cmake/Revision.cmake on `repo`, writing `header`; returns the revision it wrote.
std::string RevisionOf(const std::string& repo, const std::string& header,
                       const std::string& given = "") {
  std::string out;
  const std::string cmd = std::string(KMB_CMAKE_COMMAND) + " -DSOURCE_DIR=" + repo +
                          " -DOUTPUT=" + header + (given.empty() ? "" : " -DREVISION=" + given) +
                          " -P " + KMB_SOURCE_DIR + "/cmake/Revision.cmake";
  EXPECT_EQ(RunCommand(cmd, &out), 0) << out;
  const std::string text = Read(header);
  const std::string key = "#define KMB_REVISION \"";
  const size_t at = text.find(key);
  if (at == std::string::npos) return "(no define in: " + text + ")";
  const size_t begin = at + key.size();
  return text.substr(begin, text.find('"', begin) - begin);
}

std::string Git(const std::string& repo, const std::string& args) {
  std::string out;
  EXPECT_EQ(
      RunCommand("git -C " + repo + " -c user.name=t -c user.email=t@example.com " + args, &out), 0)
      << args << ": " << out;
  return Trim(out);
}

TEST(BuildInfo, RevisionFollowsTheCommitAtEveryBuild) {
  TempDir dir;
  const std::string repo = dir.file("repo"), header = dir.file("kmb_revision.h");
  // Not a git checkout (an unpacked source tarball): unknown, unless given.
  std::filesystem::create_directories(repo);
  EXPECT_EQ(RevisionOf(repo, header), "unknown");
  EXPECT_EQ(RevisionOf(repo, header, "0123456789ab"), "0123456789ab");

  Git(repo, "init -q");
  testing::WriteFile(repo + "/a.txt", "one\n");
  Git(repo, "add a.txt");
  Git(repo, "commit -q -m one");
  const std::string first = Git(repo, "rev-parse --short=12 HEAD");
  ASSERT_EQ(first.size(), 12u);
  EXPECT_EQ(RevisionOf(repo, header), first);

  // Unchanged: the header is not written again, so nothing that includes it recompiles.
  struct stat before {};
  ASSERT_EQ(stat(header.c_str(), &before), 0);
  struct timespec old_times[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, header.c_str(), old_times, 0), 0);
  EXPECT_EQ(RevisionOf(repo, header), first);
  struct stat after {};
  ASSERT_EQ(stat(header.c_str(), &after), 0);
  EXPECT_EQ(after.st_mtim.tv_sec, 1) << "an unchanged revision rewrote the header";

  // A tracked file changed: dirty. Untracked files do not count.
  testing::WriteFile(repo + "/untracked.txt", "x\n");
  EXPECT_EQ(RevisionOf(repo, header), first);
  testing::WriteFile(repo + "/a.txt", "two\n");
  EXPECT_EQ(RevisionOf(repo, header), first + "-dirty");

  // Committed: the next build reports the new commit (the defect: the revision was read once,
  // when the build tree was configured).
  Git(repo, "commit -q -am two");
  const std::string second = Git(repo, "rev-parse --short=12 HEAD");
  ASSERT_NE(second, first);
  EXPECT_EQ(RevisionOf(repo, header), second);
}

// This very build: the binary reports the commit the sources are at (with -dirty when they
// have changes), which is what the tests were built from.
TEST(BuildInfo, ThisBuildReportsItsSourcesRevision) {
  std::string head;
  if (RunCommand(std::string("git -C ") + KMB_SOURCE_DIR + " rev-parse --short=12 HEAD", &head) !=
      0) {
    GTEST_SKIP() << "the sources are not a git checkout; built as " << Revision();
  }
  head = Trim(head);
  const std::string revision(Revision());
  EXPECT_TRUE(revision == head || revision == head + "-dirty")
      << "built as " << revision << ", sources at " << head;
  std::string version;
  ASSERT_EQ(RunCommand(std::string(KMB_BINARY) + " --version", &version), 0);
  EXPECT_EQ(Trim(version), std::string(Version()) + " (" + revision + ")");
}

}  // namespace
}  // namespace kmb
