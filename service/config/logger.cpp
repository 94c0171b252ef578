#include "logger.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace echod {
namespace {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Renders a field value; strings are JSON-quoted in JSON lines and bare in text lines.
void append_value(std::string& out, const LogValue& v, bool json) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    if (json) {
      append_json_string(out, *s);
    } else {
      out += *s;
    }
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    out += std::to_string(*i);
  } else if (const auto* u = std::get_if<std::uint64_t>(&v)) {
    out += std::to_string(*u);
  } else if (const auto* d = std::get_if<double>(&v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", *d);
    out += buf;
  } else if (const auto* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
  }
}

}  // namespace

std::string Logger::format_line(LogLevel level, std::string_view msg,
                                std::initializer_list<LogField> fields) const {
  std::string line;
  line.reserve(128);
  if (format_ == LogFormat::kJson) {
    line += "{\"ts\":\"" + timestamp() + "\",\"level\":\"";
    line += to_string(level);
    line += "\",\"msg\":";
    append_json_string(line, msg);
    for (const auto& f : fields) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      append_value(line, f.value, true);
    }
    line += '}';
  } else {
    line += timestamp();
    line += ' ';
    line += to_string(level);
    line += ' ';
    line += msg;
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      append_value(line, f.value, false);
    }
  }
  return line;
}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  std::string line = format_line(level, msg, fields);
  line += '\n';
  std::lock_guard lock(write_mutex_);
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stdout gone: logging must never take the process down
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace echod
