// HttpFront alone, in the test process, with handlers the test controls: probe paths
// answered on the loop, the bounded pool, the write deadline.
#include "http_front.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "admin_client.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Answers every request with 200 and its own request line; "/slow" first sleeps.
HttpAnswer answer(const HttpRequest& req, std::atomic<int>& slow_running) {
  const std::string line(req.bytes.substr(0, req.bytes.find('\r')));
  if (line.find(" /slow ") != std::string::npos) {
    ++slow_running;
    std::this_thread::sleep_for(milliseconds(1000));
    --slow_running;
  }
  HttpAnswer a;
  a.bytes = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(line.size()) +
            (req.last ? "\r\nConnection: close" : "") + "\r\n\r\n" + line;
  a.keep_alive = true;
  return a;
}

struct Front {
  std::atomic<int> slow_running{0};
  HttpFront front;
  explicit Front(HttpFrontLimits limits = {})
      : front(limits, {"/livez"},
              [this](const HttpRequest& req) { return answer(req, slow_running); }) {
    if (auto err = front.bind({"127.0.0.1", 0})) throw std::runtime_error(*err);
    front.start();
  }
};

TEST(HttpFront, ProbePathsAreAnsweredWhileEveryGeneralThreadIsBusy) {
  Front f;  // general pool: 2 threads
  std::vector<std::thread> slow;
  for (int i = 0; i < 6; ++i) {
    slow.emplace_back([&] { http_get(f.front.port(), "/slow"); });
  }
  ASSERT_TRUE(wait_until([&] { return f.slow_running == 2; }, milliseconds(2000)));
  // Both general threads sleep and four requests wait behind them; the probe does not.
  const auto t0 = Clock::now();
  const HttpReply r = http_get(f.front.port(), "/livez");
  const auto took = Clock::now() - t0;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /livez HTTP/1.1");
  EXPECT_LT(took, milliseconds(500));
  for (auto& t : slow) t.join();
}

TEST(HttpFront, AFullPoolQueueAnswers503AtOnce) {
  HttpFrontLimits limits;
  limits.general_threads = 1;
  limits.queue_max = 1;
  Front f(limits);
  std::vector<std::thread> slow;
  std::atomic<int> ok{0};
  std::atomic<int> busy{0};
  for (int i = 0; i < 4; ++i) {
    slow.emplace_back([&] {
      const int status = http_get(f.front.port(), "/slow").status;
      if (status == 200) ++ok;
      if (status == 503) ++busy;
    });
  }
  for (auto& t : slow) t.join();
  EXPECT_EQ(ok + busy, 4);
  EXPECT_GE(busy, 1);  // one running + one queued at most
  EXPECT_LE(ok, 2);
}

TEST(HttpFront, AClientThatStopsReadingIsCutOffAtTheWriteDeadline) {
  HttpFrontLimits limits;
  limits.write_timeout = milliseconds(300);
  const std::size_t big = 64 << 20;  // far beyond what loopback socket buffers hold
  HttpFront front(limits, {}, [&](const HttpRequest&) {
    HttpAnswer a;
    a.bytes = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big) + "\r\n\r\n" +
              std::string(big, 'x');
    a.keep_alive = true;
    return a;
  });
  ASSERT_FALSE(front.bind({"127.0.0.1", 0}));
  front.start();
  Fd fd = connect_tcp(front.port());
  ASSERT_TRUE(send_all(fd.get(), "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Read nothing until the deadline has passed: the answer cannot fit the socket buffers,
  // so the front must give up on it and close; what arrived is then a cut-off prefix.
  std::this_thread::sleep_for(milliseconds(800));
  const auto t0 = Clock::now();
  const std::string got = recv_until_eof(fd.get());
  EXPECT_LT(got.size(), big);
  EXPECT_LT(Clock::now() - t0, milliseconds(2000)) << "the front kept the connection open";
  front.stop();
}

TEST(HttpFront, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  Front f;
  Fd fd = connect_tcp(f.front.port());
  std::string burst;
  for (int i = 0; i < 20; ++i) burst += "GET /r" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  burst += "GET /end HTTP/1.1\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(send_all(fd.get(), burst));
  const std::string all = recv_until_eof(fd.get());
  std::size_t pos = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string want = "GET /r" + std::to_string(i) + " HTTP/1.1";
    const std::size_t at = all.find(want, pos);
    ASSERT_NE(at, std::string::npos) << want;
    pos = at + want.size();
  }
  EXPECT_NE(all.find("GET /end HTTP/1.1", pos), std::string::npos);
}

}  // namespace
}  // namespace echod::test
