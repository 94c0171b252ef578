// SO_REUSEPORT gives every worker its own listener on the one port, and the kernel picks a
// listener per new connection by a hash of its addresses. With many clients (distinct source
// ports) that spreads connections evenly, which is what lets workers scale with cores. The
// per-worker counts come from echod's own /metrics (echod_worker_connections_accepted_total).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

double accepted_by(const EchodProcess& echod, int worker) {
  return metric(echod.admin_port(), "echod_worker_connections_accepted_total{worker=\"" +
                                               std::to_string(worker) + "\"}");
}

void expect_even_spread(int workers, int connections) {
  EchodProcess echod({"--workers", std::to_string(workers)});
  for (int i = 0; i < connections; ++i) {
    Fd fd = connect_tcp(echod.echo_port());
    ASSERT_TRUE(fd);
    ASSERT_TRUE(send_all(fd.get(), "x"));
    ASSERT_EQ(recv_exact(fd.get(), 1), "x");  // served, so counted, before the next one
  }
  ASSERT_TRUE(wait_until(
      [&] { return metric(echod.admin_port(), "echod_connections_accepted_total") ==
                   connections; },
      milliseconds(5000)));
  // Each connection lands on a given worker with probability 1/workers: the count is
  // binomial, and 5 standard deviations bound it (a false alarm about once in 3.5 million).
  const double p = 1.0 / workers;
  const double mean = connections * p;
  const double bound = 5 * std::sqrt(connections * p * (1 - p));
  double sum = 0;
  for (int w = 0; w < workers; ++w) {
    const double n = accepted_by(echod, w);
    sum += n;
    EXPECT_NEAR(n, mean, bound) << "worker " << w << " of " << workers;
  }
  EXPECT_EQ(sum, connections);
  EXPECT_EQ(accepted_by(echod, workers), -1) << "a series for a worker that does not exist";
}

TEST(WorkersSpread, TwoWorkersShareAThousandConnectionsEvenly) { expect_even_spread(2, 1000); }

TEST(WorkersSpread, FourWorkersShareAThousandConnectionsEvenly) { expect_even_spread(4, 1000); }

}  // namespace
}  // namespace echod::test
