// The SIGBUS handler, installed once when the addon loads. A mapped model file that shrinks
// on disk (truncated, or rewritten in place) loses pages, and the next read of one raises
// SIGBUS: without this the engine dies and nobody learns why. When the faulting address is
// inside a model mapping (model/mapped_files.h), the handler writes one line naming the file
// to stderr and exits with kModelFileChangedExitCode (the engine's supervisor restarts the
// engine, which loads the file as it is now); any other SIGBUS goes to whatever handled it
// before (by default the process dies by the signal, as a real bug should). Only
// async-signal-safe calls (write, pause, _exit, sigaction, raise) and lock-free atomics are
// used in the handler.
#include <napi.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

#include "model/mapped_files.h"
#include "registry.h"

namespace st::addon {
namespace {

// EX_TEMPFAIL: the engine may work again once restarted. engine/native-addon.ts exports the
// same value as MODEL_FILE_CHANGED_EXIT_CODE.
constexpr int kModelFileChangedExitCode = 75;

struct sigaction previous_action;
std::atomic<bool> reporting{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler may only use lock-free atomics");

// Appends `text` to the line being built in `line` (of `capacity` bytes) at `used`.
void append(char* line, size_t capacity, size_t& used, const char* text) {
  for (; *text && used < capacity; text++) line[used++] = *text;
}

// Async-signal-safe. Several threads can find the change at once (all faulting on the lost
// pages): the first one reports and exits, the others wait for that.
[[noreturn]] void report_and_exit(const char* path) {
  if (reporting.exchange(true)) {
    for (;;) ::pause();
  }
  // One write of the whole line, so nothing interleaves with it.
  char line[mapped_files::kMaxPathBytes + 160];
  size_t used = 0;
  append(line, sizeof line, used, "smallthinker: the model file ");
  append(line, sizeof line, used, path);
  append(line, sizeof line, used, " changed on disk while it was in use (truncated or rewritten); restart to reload it\n");
  for (size_t done = 0; done < used;) {
    const ssize_t w = ::write(STDERR_FILENO, line + done, used - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  ::_exit(kModelFileChangedExitCode);
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  // A fault the kernel raised has si_code > 0 and the address; kill() and friends have neither.
  const char* path = info && info->si_code > 0 ? mapped_files::find(info->si_addr) : nullptr;
  if (path) report_and_exit(path);
  if (previous_action.sa_flags & SA_SIGINFO) {
    previous_action.sa_sigaction(sig, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(sig);
  } else {
    // Back to the previous disposition, then the same signal again: it is blocked while this
    // handler runs, so it is delivered (and the process ends) as soon as the handler returns.
    ::sigaction(SIGBUS, &previous_action, nullptr);
    ::raise(SIGBUS);
  }
}

void install() {
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous_action);
}

Registration reg([](Napi::Env, Napi::Object) {
  static std::once_flag once;  // the addon may be loaded by several threads (workers)
  std::call_once(once, install);
});

}  // namespace
}  // namespace st::addon
