// The crash report: if the process dies on a fatal signal (SIGSEGV, SIGBUS, SIGILL,
// SIGFPE, SIGABRT), it first writes one log line naming the signal, then a backtrace,
// to standard error, and dies of the same signal. Install once, early in main.
#pragma once

#include <string_view>

namespace fedmesh {

// `node` names the process in the report line; `json` writes that line as the JSON logs do.
void install_crash_handler(std::string_view node, bool json);

}  // namespace fedmesh
