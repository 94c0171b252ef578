// ObjectPool: a worker's storage for its Connections. What it promises: a destroyed object's
// destructor runs at destroy(), its storage comes back for the next make(), and no more than
// `keep` free blocks are held after a burst.
#include "object_pool.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace echod {
namespace {

struct Tracked {
  explicit Tracked(int* alive, bool fail = false) : alive_(alive) {
    if (fail) throw std::runtime_error("constructor failed");
    ++*alive_;
  }
  ~Tracked() { --*alive_; }
  int* alive_;
  char payload[64] = {};
};

TEST(ObjectPool, DestroyRunsTheDestructorAndTheNextMakeReusesTheStorage) {
  int alive = 0;
  ObjectPool<Tracked> pool(4);
  Tracked* first = pool.make(&alive);
  EXPECT_EQ(alive, 1);
  pool.destroy(first);
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(pool.free_blocks(), 1u);
  Tracked* second = pool.make(&alive);
  EXPECT_EQ(second, first);  // the same block, not a new allocation
  EXPECT_EQ(pool.free_blocks(), 0u);
  pool.destroy(second);
}

TEST(ObjectPool, KeepsAtMostKeepFreeBlocksAfterABurst) {
  int alive = 0;
  ObjectPool<Tracked> pool(3);
  std::vector<Tracked*> burst;
  for (int i = 0; i < 10; ++i) burst.push_back(pool.make(&alive));
  EXPECT_EQ(alive, 10);
  for (Tracked* t : burst) pool.destroy(t);
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(pool.free_blocks(), 3u);  // the other 7 went back to the allocator
}

TEST(ObjectPool, AConstructorThatThrowsGivesItsStorageBack) {
  int alive = 0;
  ObjectPool<Tracked> pool(2);
  EXPECT_THROW(pool.make(&alive, true), std::runtime_error);
  EXPECT_EQ(alive, 0);
  EXPECT_EQ(pool.free_blocks(), 1u);
}

}  // namespace
}  // namespace echod
