// platform.h for Windows (built with MinGW-w64 here; the calls are the plain Win32 ones).
#if defined(_WIN32)
#include "platform.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#define PSAPI_VERSION 2  // GetProcessMemoryInfo from kernel32 (K32...), no psapi.lib
#include <windows.h>
#include <psapi.h>

#include <algorithm>
#include <cstddef>
#include <thread>
#include <utility>
#include <vector>

namespace st::platform {

static HANDLE handle_of(intptr_t h) { return reinterpret_cast<HANDLE>(h); }
static const intptr_t kClosed = -1;  // INVALID_HANDLE_VALUE's value

// The text of a Win32 error code, without its trailing line break.
static std::string error_text(DWORD code) {
  char buf[512];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code, 0, buf, sizeof buf, nullptr);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '.')) n--;
  std::string text = n ? std::string(buf, n) : "error";
  return text + " (Windows error " + std::to_string(code) + ")";
}

// UTF-8 as the engine passes paths, to the UTF-16 the wide-character calls take.
static std::wstring wide(const std::string& utf8) {
  if (utf8.empty()) return {};
  const int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  if (n <= 0) throw std::runtime_error(utf8 + ": the path is not valid UTF-8");
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
  return out;
}

File::File(const std::string& path, Caching caching) {
  // Sharing read, write and delete: another process may replace or delete the file while it is
  // open, as on POSIX systems (a download moving a new model into place).
  const DWORD share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
  const DWORD flags = FILE_ATTRIBUTE_NORMAL | (caching == Caching::bypass ? FILE_FLAG_NO_BUFFERING : 0);
  HANDLE h = CreateFileW(wide(path).c_str(), GENERIC_READ, share, nullptr, OPEN_EXISTING, flags, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    if (caching == Caching::bypass) return;
    throw std::runtime_error(path + ": cannot open: " + error_text(GetLastError()));
  }
  if (GetFileType(h) != FILE_TYPE_DISK) {
    CloseHandle(h);
    if (caching == Caching::bypass) return;
    throw std::runtime_error(path + ": not a regular file");
  }
  handle_ = reinterpret_cast<intptr_t>(h);
}

File::~File() {
  if (handle_ != kClosed) CloseHandle(handle_of(handle_));
}

File::File(File&& o) noexcept : handle_(std::exchange(o.handle_, kClosed)) {}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (handle_ != kClosed) CloseHandle(handle_of(handle_));
    handle_ = std::exchange(o.handle_, kClosed);
  }
  return *this;
}

bool File::is_open() const { return handle_ != kClosed; }

uint64_t File::size() const {
  LARGE_INTEGER size{};
  return handle_ != kClosed && GetFileSizeEx(handle_of(handle_), &size) ? static_cast<uint64_t>(size.QuadPart) : 0;
}

FileIdentity File::identity() const {
  BY_HANDLE_FILE_INFORMATION info{};
  if (handle_ == kClosed || !GetFileInformationByHandle(handle_of(handle_), &info)) return {};
  FileIdentity id;
  id.device = info.dwVolumeSerialNumber;
  id.inode = (static_cast<uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow;
  id.size = (static_cast<uint64_t>(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
  const uint64_t ticks = (static_cast<uint64_t>(info.ftLastWriteTime.dwHighDateTime) << 32) | info.ftLastWriteTime.dwLowDateTime;
  id.modified_ns = static_cast<int64_t>(ticks) * 100;  // 100 ns ticks since 1601
  return id;
}

size_t File::read_at(uint64_t offset, void* dst, size_t n) const {
  auto* out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < n) {
    // ReadFile takes a 32-bit length; 1 GiB pieces keep unbuffered reads aligned.
    const DWORD want = static_cast<DWORD>(std::min<size_t>(n - done, size_t(1) << 30));
    OVERLAPPED at{};  // a positioned read: the handle's own file pointer is not used
    const uint64_t pos = offset + done;
    at.Offset = static_cast<DWORD>(pos);
    at.OffsetHigh = static_cast<DWORD>(pos >> 32);
    DWORD got = 0;
    if (!ReadFile(handle_of(handle_), out + done, want, &got, &at)) {
      const DWORD e = GetLastError();
      if (e == ERROR_HANDLE_EOF) break;
      throw ReadError("read failed: " + error_text(e), e == ERROR_INVALID_PARAMETER);
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

void File::drop_cached(uint64_t, uint64_t) const {}
void File::advise_no_read_ahead() const {}

FileMapping::FileMapping(const std::string& path) : file_(path, File::Caching::normal) {
  size_ = static_cast<size_t>(file_.size());
  if (size_ == 0) throw std::runtime_error(path + ": the file is empty");
  HANDLE section = CreateFileMappingW(handle_of(file_.handle_), nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!section) throw std::runtime_error(path + ": cannot map: " + error_text(GetLastError()));
  void* p = MapViewOfFile(section, FILE_MAP_READ, 0, 0, 0);
  if (!p) {
    const DWORD e = GetLastError();
    CloseHandle(section);
    throw std::runtime_error(path + ": cannot map: " + error_text(e));
  }
  mapping_ = reinterpret_cast<intptr_t>(section);
  data_ = static_cast<const uint8_t*>(p);
}

FileMapping::~FileMapping() {
  if (data_) UnmapViewOfFile(data_);
  if (mapping_) CloseHandle(handle_of(mapping_));
}

// Windows has no mincore: the standby list's contents are not visible to a process.
double cached_share(const void*, size_t) { return 1; }

void* allocate_pages(size_t bytes) {
  void* p = VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (!p) throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB: " + error_text(GetLastError()));
  return p;
}

void free_pages(void* p, size_t) {
  if (p) VirtualFree(p, 0, MEM_RELEASE);
}

// Large pages on Windows need the "Lock pages in memory" privilege, which users do not have:
// the quiet fallback is the normal pages.
void advise_large_pages(void*, size_t) {}
void advise_small_pages(void*, size_t) {}
void populate_for_writing(void*, size_t) {}

uint64_t resident_bytes() {
  PROCESS_MEMORY_COUNTERS counters{};
  return K32GetProcessMemoryInfo(GetCurrentProcess(), &counters, sizeof counters) ? counters.WorkingSetSize : 0;
}

uint64_t peak_resident_bytes() {
  PROCESS_MEMORY_COUNTERS counters{};
  return K32GetProcessMemoryInfo(GetCurrentProcess(), &counters, sizeof counters) ? counters.PeakWorkingSetSize : 0;
}

uint64_t resident_and_mapped_cache_bytes() { return resident_bytes(); }
bool page_cache_is_charged() { return false; }
void drop_unused_mapped_file_cache() {}

// The C runtime's heap gives large blocks back to the OS when they are freed.
void return_free_memory() {}

std::string ask_for_interactive_scheduling() {
  // The request is the process's, not the thread's: made by the first thread to start, and
  // its answer given to every later one.
  static const std::string answer = [] {
    // Looked up rather than imported: Windows 8 added the function and Windows 10 1709 this
    // class, and a DLL that imports a missing function does not load at all.
    using SetProcessInformationFn = BOOL(WINAPI*)(HANDLE, PROCESS_INFORMATION_CLASS, LPVOID, DWORD);
    const auto set_information = reinterpret_cast<SetProcessInformationFn>(
        reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"kernel32.dll"), "SetProcessInformation")));
    if (!set_information) return std::string("power throttling left as it is (this Windows has no SetProcessInformation)");
    PROCESS_POWER_THROTTLING_STATE state = {};
    state.Version = PROCESS_POWER_THROTTLING_CURRENT_VERSION;
    state.ControlMask = PROCESS_POWER_THROTTLING_EXECUTION_SPEED;  // this process decides its speed…
    state.StateMask = 0;                                           // …and it is not throttled
    if (set_information(GetCurrentProcess(), ProcessPowerThrottling, &state, sizeof state)) return std::string("execution-speed throttling off");
    return "execution-speed throttling off refused: " + error_text(GetLastError());
  }();
  return answer;
}

bool cpu_has_arm_dotprod() { return false; }  // the Windows addon is x64 only

int compute_core_count() {
  DWORD bytes = 0;
  GetLogicalProcessorInformationEx(RelationProcessorCore, nullptr, &bytes);
  if (bytes > 0) {
    std::vector<uint8_t> buf(bytes);
    auto* first = reinterpret_cast<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buf.data());
    if (GetLogicalProcessorInformationEx(RelationProcessorCore, first, &bytes)) {
      // A core's EfficiencyClass is higher the faster it is; on a hybrid CPU (Intel's since
      // Alder Lake) the performance cores have the highest, elsewhere every core has 0. It is
      // the byte after Flags (MinGW-w64's headers still call it Reserved[0]).
      std::vector<int> classes;
      for (DWORD at = 0; at < bytes;) {
        auto* entry = reinterpret_cast<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buf.data() + at);
        const BYTE* core = reinterpret_cast<const BYTE*>(&entry->Processor);
        if (entry->Relationship == RelationProcessorCore) classes.push_back(core[offsetof(PROCESSOR_RELATIONSHIP, Flags) + 1]);
        at += entry->Size;
      }
      if (!classes.empty()) {
        const int fastest = *std::max_element(classes.begin(), classes.end());
        return static_cast<int>(std::count(classes.begin(), classes.end(), fastest));
      }
    }
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

namespace {

MappedReadFaultHandler fault_handler = nullptr;

// An in-page error is how a failed read of a mapped file shows on Windows; its second
// parameter is the address. Returning "continue search" leaves it to whatever comes next (by
// default the process ends, as a real bug should).
LONG CALLBACK on_exception(EXCEPTION_POINTERS* e) {
  const EXCEPTION_RECORD* r = e->ExceptionRecord;
  if (r->ExceptionCode == EXCEPTION_IN_PAGE_ERROR && r->NumberParameters >= 2 && fault_handler) {
    fault_handler(reinterpret_cast<const void*>(r->ExceptionInformation[1]));
  }
  return EXCEPTION_CONTINUE_SEARCH;
}

}  // namespace

void install_mapped_read_fault_handler(MappedReadFaultHandler handler) {
  fault_handler = handler;
  AddVectoredExceptionHandler(1, on_exception);
}

void write_stderr(const char* text, size_t n) {
  HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
  for (size_t done = 0; done < n;) {
    DWORD wrote = 0;
    if (!WriteFile(err, text + done, static_cast<DWORD>(n - done), &wrote, nullptr) || wrote == 0) break;
    done += wrote;
  }
}

void exit_now(int code) {
  TerminateProcess(GetCurrentProcess(), static_cast<UINT>(code));
  for (;;) Sleep(INFINITE);  // TerminateProcess does not return for the current process
}

void block_forever() {
  for (;;) Sleep(INFINITE);
}

}  // namespace st::platform
#endif
