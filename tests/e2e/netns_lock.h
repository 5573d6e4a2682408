// Tests that create network namespaces run one at a time across processes: an flock held
// while a namespace of this process exists. Creating and deleting namespaces and moving taps
// all take the kernel's RTNL lock; a namespace deleted by one test stalled another test's tap
// close by seconds. Used by e2e::Netns (netns.h) and the interop harness's NetNs.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <mutex>

namespace e2e {

// The cross-process lock, shared by the namespaces of one process (flock is per open file).
class NetnsLock {
 public:
  static void acquire() {
    State& s = state();
    std::lock_guard<std::mutex> guard(s.mutex);
    if (s.users++ == 0) {
      s.fd = ::open("/tmp/discplane-test-netns.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
      if (s.fd >= 0) {
        (void)::flock(s.fd, LOCK_EX);  // waits for the other test process, if any
      }
    }
  }
  static void release() {
    State& s = state();
    std::lock_guard<std::mutex> guard(s.mutex);
    if (--s.users == 0 && s.fd >= 0) {
      ::close(s.fd);  // releases the flock
      s.fd = -1;
    }
  }

 private:
  struct State {
    std::mutex mutex;
    int fd = -1;
    int users = 0;
  };
  static State& state() {
    static State s;
    return s;
  }
};

}  // namespace e2e
