#pragma once
// Storage for one worker's objects (its Connections), reused instead of returned to malloc.
//
// A connect-echo-close client costs echod a Connection per connection; with new/delete that
// was ~200 of its ~800 user-space instructions per connection (callgrind, bench.py cost-conn:
// malloc, _int_malloc, free, _int_free in a multi-threaded process). A free list kept by the
// worker that owns the connections makes it a pointer pop and push.
//
// Owned and used by one worker thread only: no lock, no atomic. It keeps at most `keep` free
// blocks, so a burst of connections gives its memory back once it is over.
#include <cstddef>
#include <new>
#include <utility>

namespace echod {

template <class T>
class ObjectPool {
 public:
  explicit ObjectPool(std::size_t keep) : keep_(keep) {}
  ObjectPool(const ObjectPool&) = delete;
  ObjectPool& operator=(const ObjectPool&) = delete;
  ~ObjectPool() {
    while (free_ != nullptr) {
      FreeBlock* next = free_->next;
      release_storage(free_);
      free_ = next;
    }
  }

  template <class... Args>
  T* make(Args&&... args) {
    void* storage = take();
    try {
      return ::new (storage) T(std::forward<Args>(args)...);
    } catch (...) {
      give(storage);
      throw;
    }
  }

  /// Runs T's destructor (which closes what T owns) and keeps or frees the storage.
  void destroy(T* object) {
    object->~T();
    give(object);
  }

  std::size_t free_blocks() const { return free_count_; }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static_assert(sizeof(T) >= sizeof(FreeBlock));
  // Plain operator new already aligns for T: no aligned or sized forms, which not every
  // compiler of this tree enables by default (clang builds the fuzzers).
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

  void* take() {
    if (free_ == nullptr) return ::operator new(sizeof(T));
    FreeBlock* block = free_;
    free_ = block->next;
    --free_count_;
    return block;
  }

  void give(void* storage) {
    if (free_count_ >= keep_) {
      release_storage(storage);
      return;
    }
    free_ = ::new (storage) FreeBlock{free_};
    ++free_count_;
  }

  static void release_storage(void* storage) { ::operator delete(storage); }

  FreeBlock* free_ = nullptr;
  std::size_t free_count_ = 0;
  std::size_t keep_;
};

}  // namespace echod
