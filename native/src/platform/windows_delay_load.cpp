// Windows: the addon's Node-API imports are delay-loaded from a module named "node.exe" (the
// import library native/cross/build.mjs makes). Node itself is node.exe, but VS Code runs the
// engine inside its own executable (Code.exe, with ELECTRON_RUN_AS_NODE), which exports the
// same functions. This hook answers "node.exe" with the executable that is running, so the
// addon loads in both. It is set by a static initializer, which runs when the DLL is loaded,
// before Node calls napi_register_module_v1 and so before the first Node-API call.
#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <delayimp.h>

#include <cstring>

namespace {

FARPROC WINAPI resolve_node_to_host(unsigned notify, PDelayLoadInfo info) {
  if (notify == dliNotePreLoadLibrary && info && info->szDll && _stricmp(info->szDll, "node.exe") == 0) {
    return reinterpret_cast<FARPROC>(GetModuleHandleW(nullptr));
  }
  return nullptr;
}

const bool hook_set = [] {
  __pfnDliNotifyHook2 = resolve_node_to_host;
  return true;
}();

}  // namespace
#endif
