#include "echod_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace echod::test {
namespace {

bool has_flag(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args) {
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

ChildProcess::ChildProcess(const std::string& binary, const std::vector<std::string>& args,
                           const Env& env) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  std::vector<std::string> argv_storage{binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  if (const char* path = std::getenv("PATH")) env_storage.push_back(std::string("PATH=") + path);
  // Sanitizer settings follow the test into the child, so a race or leak in echod fails
  // the test that caused it.
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name)) env_storage.push_back(std::string(name) + "=" + value);
  }
  for (const auto& [k, v] : env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  // The child must start with default signal dispositions and an empty mask even if the
  // test process blocks or ignores signals.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  const int rc = posix_spawnp(&pid_, binary.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("posix_spawn " + binary + " failed: " + std::to_string(rc));
  }
  out_reader_ = std::thread([this, fd = out_pipe[0]] { read_stream(fd, true); });
  err_reader_ = std::thread([this, fd = err_pipe[0]] { read_stream(fd, false); });
}

ChildProcess::~ChildProcess() {
  if (!exit_code_) {
    ::kill(pid_, SIGKILL);
    wait_exit(milliseconds(10'000));
  }
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
}

void ChildProcess::read_stream(int fd, bool is_stdout) {
  std::string partial;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mutex_);
    if (is_stdout) {
      partial.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        out_lines_.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
    } else {
      err_text_.append(buf, static_cast<std::size_t>(n));
    }
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  if (is_stdout && !partial.empty()) out_lines_.push_back(partial);
  changed_.notify_all();
  ::close(fd);
}

void ChildProcess::signal(int sig) {
  if (!exit_code_) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait_exit(milliseconds timeout) {
  if (exit_code_) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

std::optional<std::string> ChildProcess::wait_for_line(
    const std::function<bool(const std::string&)>& match, milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::size_t checked = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (; checked < out_lines_.size(); ++checked) {
      if (match(out_lines_[checked])) return out_lines_[checked];
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < out_lines_.size(); ++checked) {
        if (match(out_lines_[checked])) return out_lines_[checked];
      }
      return std::nullopt;
    }
  }
}

void ChildProcess::join_output() {
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
}

std::vector<std::string> ChildProcess::stdout_lines() const {
  std::lock_guard lock(mutex_);
  return out_lines_;
}

std::string ChildProcess::stderr_text() const {
  std::lock_guard lock(mutex_);
  return err_text_;
}

std::string ChildProcess::output() const {
  std::lock_guard lock(mutex_);
  std::string all;
  for (const auto& l : out_lines_) all += l + "\n";
  return all + err_text_;
}

std::uint16_t port_from_log_field(const std::string& line, const std::string& key) {
  // JSON lines carry "key":"host:port", text lines key=host:port.
  std::size_t start = line.find("\"" + key + "\":\"");
  std::size_t value_at;
  char terminator;
  if (start != std::string::npos) {
    value_at = start + key.size() + 4;
    terminator = '"';
  } else {
    start = line.find(" " + key + "=");
    if (start == std::string::npos) return 0;
    value_at = start + key.size() + 2;
    terminator = ' ';
  }
  const std::string addr = line.substr(value_at, line.find(terminator, value_at) - value_at);
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::stoul(addr.substr(colon + 1)));
}

EchodProcess::EchodProcess(std::vector<std::string> args, const Env& env) {
  if (!has_flag(args, "--listen")) {
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  }
  if (!has_flag(args, "--admin-listen")) {
    args.insert(args.end(), {"--admin-listen", "127.0.0.1:0"});
  }
  child_ = std::make_unique<ChildProcess>(ECHOD_BINARY, args, env);
  auto line = child_->wait_for_line(
      [](const std::string& l) { return l.find("echod started") != std::string::npos; },
      kStartTimeout);
  if (!line) {
    throw std::runtime_error("echod did not start:\n" + child_->output());
  }
  echo_port_ = port_from_log_field(*line, "echo_address");
  admin_port_ = port_from_log_field(*line, "admin_address");
  tls_port_ = port_from_log_field(*line, "tls_address");
}

EchodProcess with_rules(const std::string& rules, std::vector<std::string> extra) {
  std::vector<std::string> args{"--workers", "1", "--faults", rules};
  args.insert(args.end(), extra.begin(), extra.end());
  return EchodProcess(args);
}

RunResult run_to_exit(const std::string& binary, const std::vector<std::string>& args,
                      const Env& env, milliseconds timeout) {
  ChildProcess child(binary, args, env);
  RunResult result;
  auto code = child.wait_exit(timeout);
  if (!code) {
    child.signal(SIGKILL);
    code = child.wait_exit(timeout);
  }
  result.exit_code = code.value_or(-1);
  child.join_output();
  for (const auto& l : child.stdout_lines()) result.out += l + "\n";
  result.err = child.stderr_text();
  return result;
}

}  // namespace echod::test
