#include "core/time.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace fedmesh {

std::string iso8601(SystemTime t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  long frac = static_cast<long>(us % 1'000'000);
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

std::optional<SystemTime> parse_iso8601(std::string_view text) {
  std::tm tm{};
  int year, mon, day, hour, min, sec;
  char tail[16] = {0};
  std::string s(text.substr(0, 40));
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%15s", &year, &mon, &day, &hour, &min, &sec, tail);
  if (n < 6) return std::nullopt;
  long micros = 0;
  std::string rest = n == 7 ? tail : "";
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    long scale = 100000;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) {
      if (scale > 0) micros += (rest[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    rest = rest.substr(i);
  }
  if (rest != "Z") return std::nullopt;
  // Within what a nanosecond time point holds (1678-2262), and a real calendar time:
  // a peer's "0026-01-01" must be refused, not overflow.
  if (year < 1900 || year > 2200 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0 ||
      min > 59 || sec < 0 || sec > 60)
    return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::microseconds(micros);
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  long long n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data() || n < 0) return std::nullopt;
  std::string_view unit(end, text.data() + text.size() - end);
  constexpr long long kMaxMs = 1000LL * 60 * 60 * 24 * 365;
  if (n > kMaxMs) return std::nullopt;  // before any multiplication can overflow
  long long ms = 0;
  if (unit == "ms") {
    ms = n;
  } else if (unit == "s") {
    ms = n * 1000;
  } else if (unit == "m") {
    ms = n * 60'000;
  } else if (unit == "h") {
    ms = n * 3'600'000;
  } else {
    return std::nullopt;
  }
  if (n > kMaxMs || ms > kMaxMs) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace fedmesh
