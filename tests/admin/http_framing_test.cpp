// Unit tests of frame_request(): where one HTTP request ends, and what the front refuses
// before any thread or router sees a byte. No sockets.
#include "http_framing.h"

#include <gtest/gtest.h>

#include <string>

namespace echod {
namespace {

constexpr std::size_t kHead = 8192;
constexpr std::size_t kBody = 65536;

HttpFraming frame(std::string& buf) { return frame_request(buf, kHead, kBody); }

TEST(HttpFraming, AHeadWithoutItsBlankLineIsIncomplete) {
  std::string buf = "GET /livez HTTP/1.1\r\nHost: x\r\n";
  EXPECT_EQ(frame(buf).kind, HttpFraming::kIncomplete);
  buf += "\r\n";
  const HttpFraming f = frame(buf);
  ASSERT_EQ(f.kind, HttpFraming::kComplete);
  EXPECT_EQ(f.length, buf.size());
  EXPECT_EQ(f.path, "/livez");
  EXPECT_FALSE(f.close);
}

TEST(HttpFraming, TheBodyCountsByContentLengthAndPipelinedBytesAreLeft) {
  std::string buf = "PUT /config HTTP/1.1\r\ncontent-LENGTH: 5\r\n\r\n{\"a\"";
  EXPECT_EQ(frame(buf).kind, HttpFraming::kIncomplete);
  buf += "}GET /next HTTP/1.1\r\n\r\n";
  const HttpFraming f = frame(buf);
  ASSERT_EQ(f.kind, HttpFraming::kComplete);
  EXPECT_EQ(buf.substr(f.length), "GET /next HTTP/1.1\r\n\r\n");
  EXPECT_EQ(f.path, "/config");
}

TEST(HttpFraming, TheQueryIsNotPartOfThePath) {
  std::string buf = "GET /metrics?x=1 HTTP/1.1\r\n\r\n";
  EXPECT_EQ(frame(buf).path, "/metrics");
}

TEST(HttpFraming, ConnectionCloseAndHttp10CloseAfterTheAnswer) {
  std::string a = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
  EXPECT_TRUE(frame(a).close);
  std::string b = "GET / HTTP/1.0\r\n\r\n";
  EXPECT_TRUE(frame(b).close);
  std::string c = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  EXPECT_FALSE(frame(c).close);
}

TEST(HttpFraming, LeadingEmptyLinesAndBareLineFeedsAreAccepted) {
  std::string buf = "\r\n\r\nGET /readyz HTTP/1.1\nHost: x\n\n";
  const HttpFraming f = frame(buf);
  ASSERT_EQ(f.kind, HttpFraming::kComplete);
  EXPECT_EQ(f.path, "/readyz");
  EXPECT_EQ(f.length, buf.size());
}

TEST(HttpFraming, OversizedHeadsAreRefusedEvenBeforeTheyEnd) {
  std::string buf = "GET / HTTP/1.1\r\nX: " + std::string(kHead, 'a');
  const HttpFraming f = frame(buf);
  EXPECT_EQ(f.kind, HttpFraming::kError);
  EXPECT_EQ(f.status, 431);
}

TEST(HttpFraming, OversizedBodiesAreRefusedFromTheirContentLength) {
  std::string buf = "PUT /config HTTP/1.1\r\nContent-Length: 65537\r\n\r\n";
  const HttpFraming f = frame(buf);
  EXPECT_EQ(f.kind, HttpFraming::kError);
  EXPECT_EQ(f.status, 413);
}

TEST(HttpFraming, BadOrConflictingContentLengthIsA400) {
  for (const char* cl :
       {"Content-Length: -1\r\n", "Content-Length: 1e3\r\n", "Content-Length: \r\n",
        "Content-Length: 99999999999999\r\n", "Content-Length: 1\r\nContent-Length: 2\r\n"}) {
    std::string buf = std::string("PUT /config HTTP/1.1\r\n") + cl + "\r\n";
    const HttpFraming f = frame(buf);
    EXPECT_EQ(f.kind, HttpFraming::kError) << cl;
    EXPECT_EQ(f.status, 400) << cl;
  }
}

TEST(HttpFraming, ChunkedBodiesAreRefusedWith411) {
  std::string buf = "PUT /config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  const HttpFraming f = frame(buf);
  EXPECT_EQ(f.kind, HttpFraming::kError);
  EXPECT_EQ(f.status, 411);
}

TEST(HttpFraming, AMalformedRequestLineIsA400) {
  std::string buf = "HELLO\r\n\r\n";
  const HttpFraming f = frame(buf);
  EXPECT_EQ(f.kind, HttpFraming::kError);
  EXPECT_EQ(f.status, 400);
}

TEST(HttpFraming, Expect100ContinueIsAnsweredOnceAndRemovedFromTheHead) {
  std::string buf = "PUT /config HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  const HttpFraming waiting = frame(buf);
  EXPECT_EQ(waiting.kind, HttpFraming::kIncomplete);
  EXPECT_TRUE(waiting.send_continue);
  EXPECT_EQ(buf.find("Expect"), std::string::npos);
  EXPECT_FALSE(frame(buf).send_continue);  // not a second time
  buf += "{}";
  const HttpFraming done = frame(buf);
  ASSERT_EQ(done.kind, HttpFraming::kComplete);
  EXPECT_EQ(done.length, buf.size());
}

}  // namespace
}  // namespace echod
