// Crash safety: a child process moves an alias, registers versions and pauses / resumes a
// release as fast as it can, telling the parent over a pipe after each call returns OK
// ("ack"). The parent SIGKILLs it at a random moment (seeded), reopens the registry and
// checks that every acknowledged write is there, that at most the one write in flight
// when the kill came is there beyond them, and that the audit chain verifies. Several
// rounds, each continuing from what the last one left.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/temp_dir.h"

namespace ferry {
namespace {

constexpr int64_t kAliasVersions = 4;  // the alias cycles through versions 1..4

int64_t NextAliasVersion(int64_t v) { return v % kAliasVersions + 1; }

std::unique_ptr<Registry> OpenRegistry(const std::string& repository) {
  RegistryOptions options;
  options.repository = repository;
  absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Open(options);
  if (!registry.ok()) {
    ADD_FAILURE() << registry.status();
    return nullptr;
  }
  return std::move(*registry);
}

void Ack(int fd, const std::string& line) {
  const std::string text = line + "\n";
  // One write(2) per line: a line is in the pipe whole or not at all.
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(4);
}

// The child: writes until killed (or for 30 s, should the parent be gone).
[[noreturn]] void WriteStorm(const std::string& repository, const std::string& artifact, int fd) {
  RegistryOptions options;
  options.repository = repository;
  absl::StatusOr<std::unique_ptr<Registry>> opened = Registry::Open(options);
  if (!opened.ok()) _exit(2);
  Registry& registry = **opened;
  int64_t alias = *registry.ResolveAlias("m", "production");
  const int64_t release = registry.ListReleases("m")->back().id;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    if (i % 5 == 3) {
      absl::StatusOr<ModelVersion> v =
          registry.RegisterVersion({.model = "m", .artifact_path = artifact}, "storm");
      if (!v.ok()) _exit(3);
      Ack(fd, absl::StrCat("register ", v->version));
    } else if (i % 5 == 4) {
      absl::StatusOr<Release> r = registry.GetRelease(release);
      if (!r.ok()) _exit(3);
      r = r->state == ReleaseState::kRunning ? registry.PauseRelease(release, "storm", "")
                                             : registry.ResumeRelease(release, "storm", "");
      if (!r.ok()) _exit(3);
      Ack(fd, absl::StrCat("release ", ReleaseStateName(r->state)));
    } else {
      const int64_t next = NextAliasVersion(alias);
      if (!registry.SetAlias("m", "production", next, alias, "storm", "").ok()) _exit(3);
      alias = next;
      Ack(fd, absl::StrCat("alias ", next));
    }
  }
  _exit(0);
}

struct Acks {
  std::vector<int64_t> aliases;
  std::vector<int64_t> registered;
  std::vector<std::string> release_states;
  int lines = 0;
};

void Parse(const std::string& text, Acks& acks) {
  std::istringstream in(text);
  std::string kind, value;
  while (in >> kind >> value) {
    ++acks.lines;
    if (kind == "alias") acks.aliases.push_back(std::stoll(value));
    if (kind == "register") acks.registered.push_back(std::stoll(value));
    if (kind == "release") acks.release_states.push_back(value);
  }
}

// Reads from `fd` until `wanted` newlines have arrived or `timeout` passes.
void ReadLines(int fd, int wanted, std::chrono::milliseconds timeout, std::string& out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int lines = 0;
  for (char c : out) lines += c == '\n';
  char buffer[4096];
  while (lines < wanted && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) return;
    for (ssize_t i = 0; i < n; ++i) lines += buffer[i] == '\n';
    out.append(buffer, n);
  }
}

void ReadToEnd(int fd, std::string& out) {
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, n);
}

TEST(RegistryCrashTest, AcknowledgedWritesSurviveKill9) {
  TempDir dir("registry_crash_test");
  const std::string repository = dir / "models";
  std::filesystem::create_directories(repository);
  // Large enough that a kill often lands inside a registration's copy (a staging folder
  // is left behind) as well as between a commit and its ack.
  const std::string artifact = dir.Write("artifact/model.pt", std::string(256 << 10, 'w'));
  {
    std::unique_ptr<Registry> registry = OpenRegistry(repository);
    ASSERT_NE(registry, nullptr);
    for (int64_t v = 1; v <= kAliasVersions; ++v) {
      ASSERT_TRUE(registry->RegisterVersion({.model = "m", .artifact_path = artifact}, "").ok());
    }
    ASSERT_TRUE(registry->SetAlias("m", "production", 1, kAliasAbsent, "", "").ok());
    ASSERT_TRUE(
        registry
            ->StartRelease({.model = "m", .candidate = 2, .baseline = 1, .mode = "canary"}, "", "")
            .ok());
  }
  std::mt19937 rng(20261207);
  int64_t alias = 1;  // what the registry held when the round started
  std::string release_state = "running";
  int64_t total_alias_acks = 0;
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      WriteStorm(repository, artifact, fds[1]);
    }
    ::close(fds[1]);
    // Kill after a random number of acknowledged writes, plus a random sliver of time, so
    // the kill lands anywhere inside a write: before, during or after its commit.
    const int wait_for = std::uniform_int_distribution<int>(1, 40)(rng);
    std::string text;
    ReadLines(fds[0], wait_for, std::chrono::seconds(20), text);
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself with " << WEXITSTATUS(status);
    ReadToEnd(fds[0], text);
    ::close(fds[0]);
    Acks acks;
    Parse(text, acks);
    ASSERT_GE(acks.lines, wait_for) << "the writer acknowledged too little before the kill";
    total_alias_acks += acks.aliases.size();

    std::unique_ptr<Registry> registry = OpenRegistry(repository);
    ASSERT_NE(registry, nullptr);
    absl::StatusOr<AuditVerification> audit = registry->VerifyAudit();
    ASSERT_TRUE(audit.ok()) << audit.status();
    EXPECT_TRUE(audit->ok) << audit->problem;
    // Every acknowledged alias move is there: the alias is at the last one, or at most
    // one move further (committed, killed before its ack).
    const int64_t acked = acks.aliases.empty() ? alias : acks.aliases.back();
    const int64_t now = *registry->ResolveAlias("m", "production");
    EXPECT_TRUE(now == acked || now == NextAliasVersion(acked))
        << "alias at " << now << ", last acknowledged " << acked;
    alias = now;
    EXPECT_GE(
        static_cast<int64_t>(registry->ReadAudit({.action = "alias.set", .limit = 10000})->size()),
        total_alias_acks + 1);
    // Every acknowledged version is registered with its files intact.
    for (int64_t v : acks.registered) {
      EXPECT_TRUE(registry->VerifyArtifact("m", v).ok()) << "version " << v;
    }
    const std::vector<ModelVersion> versions = *registry->ListVersions("m");
    for (const ModelVersion& v : versions) {
      EXPECT_TRUE(registry->VerifyArtifact("m", v.version).ok()) << "version " << v.version;
    }
    // The release is in the acknowledged state or one toggle past it.
    const std::string acked_state =
        acks.release_states.empty() ? release_state : acks.release_states.back();
    const std::string state = ReleaseStateName(registry->ListReleases("m")->back().state);
    const std::string toggled = acked_state == "running" ? "paused" : "running";
    EXPECT_TRUE(state == acked_state || state == toggled)
        << "release " << state << ", last acknowledged " << acked_state;
    release_state = state;
  }
  EXPECT_GT(total_alias_acks, 0);
  // A registration after the crashes sweeps the staging folders the killed writers left.
  std::unique_ptr<Registry> registry = OpenRegistry(repository);
  ASSERT_NE(registry, nullptr);
  ASSERT_TRUE(registry->RegisterVersion({.model = "m", .artifact_path = artifact}, "").ok());
  for (const auto& entry : std::filesystem::directory_iterator(dir / "models/m")) {
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
  }
}

}  // namespace
}  // namespace ferry
