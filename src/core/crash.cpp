#include "core/crash.hpp"

#include <execinfo.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace fedmesh {

namespace {

// Everything the handler touches is set up before it can run: it may only call
// async-signal-safe functions (write, backtrace_symbols_fd, raise).
char g_node[128] = "fedmesh";
bool g_json = false;
char g_alt_stack[64 * 1024];

// A small fixed buffer that appends without allocating.
struct Line {
  char buf[512];
  std::size_t len = 0;
  void add(const char* s) {
    while (*s && len < sizeof buf - 1) buf[len++] = *s++;
  }
  void add_number(long long v, int width) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v > 0 && n < 20);
    while (n < width && n < 20) digits[n++] = '0';
    while (n > 0 && len < sizeof buf - 1) buf[len++] = digits[--n];
  }
  void flush() {
    buf[len++] = '\n';
    std::size_t off = 0;
    while (off < len) {
      ssize_t w = ::write(2, buf + off, len - off);
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
  }
};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV (segmentation fault)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGFPE: return "SIGFPE (arithmetic exception)";
    case SIGABRT: return "SIGABRT (abort)";
    default: return "a fatal signal";
  }
}

// UTC time as 2026-12-02T03:04:05.123Z, from the civil-from-days algorithm.
void add_timestamp(Line& line) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  long long secs = ts.tv_sec;
  long long days = secs / 86400, rem = secs % 86400;
  days += 719468;
  long long era = days / 146097;
  long long doe = days - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153;
  long long day = doy - (153 * mp + 2) / 5 + 1;
  long long month = mp < 10 ? mp + 3 : mp - 9;
  long long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  line.add_number(year, 4);
  line.add("-");
  line.add_number(month, 2);
  line.add("-");
  line.add_number(day, 2);
  line.add("T");
  line.add_number(rem / 3600, 2);
  line.add(":");
  line.add_number(rem % 3600 / 60, 2);
  line.add(":");
  line.add_number(rem % 60, 2);
  line.add(".");
  line.add_number(ts.tv_nsec / 1000000, 3);
  line.add("Z");
}

void on_fatal(int sig, siginfo_t*, void*) {
  Line line;
  const char* what = " fatal signal: the process is crashing; backtrace follows";
  if (g_json) {
    line.add("{\"ts\":\"");
    add_timestamp(line);
    line.add("\",\"level\":\"critical\",\"node\":\"");
    line.add(g_node);
    line.add("\",\"msg\":\"");
    line.add(signal_name(sig));
    line.add(what);
    line.add("\"}");
  } else {
    add_timestamp(line);
    line.add(" critical [");
    line.add(g_node);
    line.add("] ");
    line.add(signal_name(sig));
    line.add(what);
  }
  line.flush();
  void* frames[64];
  int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, 2);
  // Die of the same signal, so the exit status still says what happened.
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void install_crash_handler(std::string_view node, bool json) {
  std::size_t n = 0;
  for (char c : node) {
    if (n + 1 >= sizeof g_node) break;
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) continue;  // keeps the line valid JSON
    g_node[n++] = c;
  }
  g_node[n] = '\0';
  g_json = json;
  void* warm[1];
  ::backtrace(warm, 1);  // loads the unwinder now: the first call may allocate
  stack_t ss{};
  ss.ss_sp = g_alt_stack;
  ss.ss_size = sizeof g_alt_stack;
  ::sigaltstack(&ss, nullptr);  // a stack overflow on this thread can still report
  struct sigaction sa {};
  sa.sa_sigaction = on_fatal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace fedmesh
