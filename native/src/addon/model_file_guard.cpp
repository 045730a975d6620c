// What happens when the model file changes on disk while the engine uses it: one line on
// stderr naming the file and exit status kModelFileChangedExitCode (the engine's supervisor
// restarts the engine, which loads the file as it is now).
// - The fault handler, installed once when the addon loads (platform.h): a mapped file that
//   shrinks (truncated, or rewritten in place) loses pages, and the next read of one faults
//   (SIGBUS; an in-page error on Windows). When the faulting address is inside a model mapping
//   (model/mapped_files.h) the handler reports; any other fault goes on as before (by default
//   the process dies, as a real bug should). Only the platform's async-signal-safe calls and
//   lock-free atomics are used there.
// - exit_if_model_file_changed(), before each evaluation: a file rewritten in place without
//   shrinking raises no fault, the model would just compute with other weights.
#include "model_file_guard.h"

#include <atomic>
#include <mutex>
#include <string>

#include "model/mapped_files.h"
#include "platform/platform.h"
#include "registry.h"

namespace st::addon {
namespace {

// EX_TEMPFAIL: the engine may work again once restarted. engine/native-addon.ts exports the
// same value as MODEL_FILE_CHANGED_EXIT_CODE.
constexpr int kModelFileChangedExitCode = 75;

std::atomic<bool> reporting{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the fault handler may only use lock-free atomics");

// Appends `text` to the line being built in `line` (of `capacity` bytes) at `used`.
void append(char* line, size_t capacity, size_t& used, const char* text) {
  for (; *text && used < capacity; text++) line[used++] = *text;
}

// Async-signal-safe. Several threads can find the change at once (all faulting on the lost
// pages): the first one reports and exits, the others wait for that.
[[noreturn]] void report_and_exit(const char* path) {
  if (reporting.exchange(true)) platform::block_forever();
  // One write of the whole line, so nothing interleaves with it.
  char line[mapped_files::kMaxPathBytes + 160];
  size_t used = 0;
  append(line, sizeof line, used, "smallthinker: the model file ");
  append(line, sizeof line, used, path);
  append(line, sizeof line, used, " changed on disk while it was in use (truncated or rewritten); restart to reload it\n");
  platform::write_stderr(line, used);
  platform::exit_now(kModelFileChangedExitCode);
}

void on_mapped_read_fault(const void* address) {
  if (const char* path = mapped_files::find(address)) report_and_exit(path);
}

}  // namespace

void exit_if_model_file_changed(const Model& model) {
  if (!model.file_changed()) return;
  report_and_exit(mapped_files::printable_path(model.path()).c_str());
}

namespace {

Registration reg([](Napi::Env, Napi::Object) {
  static std::once_flag once;  // the addon may be loaded by several threads (workers)
  std::call_once(once, [] { platform::install_mapped_read_fault_handler(on_mapped_read_fault); });
});

}  // namespace
}  // namespace st::addon
