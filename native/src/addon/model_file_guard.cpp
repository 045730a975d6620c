// What happens when the model file changes on disk while the engine uses it: one line on
// stderr naming the file and exit status kModelFileChangedExitCode (the engine's supervisor
// restarts the engine, which loads the file as it is now).
// - The SIGBUS handler, installed once when the addon loads: a mapped file that shrinks
//   (truncated, or rewritten in place) loses pages, and the next read of one raises SIGBUS.
//   When the faulting address is inside a model mapping (model/mapped_files.h) the handler
//   reports; any other SIGBUS goes to whatever handled it before (by default the process
//   dies by the signal, as a real bug should). Only async-signal-safe calls (write, pause,
//   _exit, sigaction, raise) and lock-free atomics are used there.
// - exit_if_model_file_changed(), before each evaluation: a file rewritten in place without
//   shrinking raises no signal, the model would just compute with other weights.
#include "model_file_guard.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>

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

}  // namespace

void exit_if_model_file_changed(const Model& model) {
  if (!model.file_changed()) return;
  report_and_exit(mapped_files::printable_path(model.path()).c_str());
}

namespace {

Registration reg([](Napi::Env, Napi::Object) {
  static std::once_flag once;  // the addon may be loaded by several threads (workers)
  std::call_once(once, install);
});

}  // namespace
}  // namespace st::addon
