#pragma once
// Where one HTTP/1.1 request ends in a byte buffer: request line, headers, Content-Length body.
// Pure: no sockets, so every framing rule is unit-testable.
#include <cstddef>
#include <string>

namespace echod {

/// What the bytes read so far amount to.
struct HttpFraming {
  enum Kind { kIncomplete, kComplete, kError } kind = kIncomplete;
  std::size_t length = 0;      // kComplete: bytes of head + body
  std::string path;            // kComplete: request target without the query
  bool close = false;          // kComplete: the client asked to close after this answer
  bool send_continue = false;  // kIncomplete: the client waits for "100 Continue"
  int status = 0;              // kError: the status to answer with (400, 411, 413, 431)
  std::string error;           // kError: why, for the answer's body
};

/// Finds the request at the front of `buf`. Drops empty lines before it, and an
/// "Expect: 100-continue" header once the body is awaited (the caller answers that, so the
/// router never does). Chunked bodies are refused (411): admin requests are small and
/// Content-Length lets the whole request be read before a thread touches it.
HttpFraming frame_request(std::string& buf, std::size_t max_head_bytes, std::size_t max_body_bytes);

}  // namespace echod
