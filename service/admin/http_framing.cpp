#include "http_framing.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

namespace echod {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

HttpFraming error(int status, std::string text) {
  HttpFraming f;
  f.kind = HttpFraming::kError;
  f.status = status;
  f.error = std::move(text);
  return f;
}

}  // namespace

HttpFraming frame_request(std::string& buf, std::size_t max_head_bytes,
                          std::size_t max_body_bytes) {
  // RFC 9112 2.2: ignore empty lines before a request line.
  std::size_t skip = 0;
  while (skip < buf.size() && (buf[skip] == '\r' || buf[skip] == '\n')) ++skip;
  if (skip > 0) buf.erase(0, skip);

  std::size_t head_end = buf.find("\r\n\r\n");
  std::size_t sep = 4;
  if (const std::size_t lf = buf.find("\n\n"); lf != std::string::npos && lf < head_end) {
    head_end = lf;
    sep = 2;
  }
  if (head_end == std::string::npos) {
    if (buf.size() > max_head_bytes) return error(431, "request head too large");
    return {};
  }
  if (head_end + sep > max_head_bytes) return error(431, "request head too large");

  std::string_view head(buf.data(), head_end);
  const std::size_t line_end = std::min(head.find('\n'), head.size());
  const std::string_view request_line = trim(head.substr(0, line_end));
  const std::size_t sp1 = request_line.find(' ');
  const std::size_t sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return error(400, "malformed request line");
  std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, std::min(target.find('?'), target.size()));

  // HTTP/1.0 closes unless asked not to; HTTP/1.1 keeps unless asked to close. Decided here
  // too, so even a request the router cannot parse ends the way the client asked.
  bool close = request_line.substr(sp2 + 1) == "HTTP/1.0";
  std::optional<std::size_t> content_length;
  std::size_t expect_begin = std::string::npos;
  std::size_t expect_end = 0;
  for (std::size_t pos = line_end + 1; pos < head.size();) {
    const std::size_t end = std::min(head.find('\n', pos), head.size());
    const std::string_view line = head.substr(pos, end - pos);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = trim(line.substr(0, colon));
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        std::size_t n = 0;
        if (value.empty() || value.size() > 12 ||
            !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return error(400, "bad Content-Length");
        }
        for (char c : value) n = n * 10 + static_cast<std::size_t>(c - '0');
        if (content_length && *content_length != n) return error(400, "conflicting Content-Length");
        content_length = n;
      } else if (iequals(name, "transfer-encoding")) {
        return error(411, "chunked request bodies are not accepted; send Content-Length");
      } else if (iequals(name, "connection")) {
        if (iequals(value, "close")) close = true;
        if (iequals(value, "keep-alive")) close = false;
      } else if (iequals(name, "expect") && iequals(value, "100-continue")) {
        expect_begin = pos;
        expect_end = end + 1;
      }
    }
    pos = end + 1;
  }
  const std::size_t body = content_length.value_or(0);
  if (body > max_body_bytes) return error(413, "request body too large");

  HttpFraming f;
  if (buf.size() < head_end + sep + body) {
    if (expect_begin != std::string::npos) {
      buf.erase(expect_begin, expect_end - expect_begin);
      f.send_continue = true;
    }
    return f;
  }
  f.kind = HttpFraming::kComplete;
  f.close = close;
  f.length = head_end + sep + body;
  f.path = std::string(target);
  return f;
}

}  // namespace echod
