#include "support/fault_proxy.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <list>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/sockets.hpp"

namespace fedmesh::testing {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxQueued = 4 << 20;  // per direction; past it the proxy stops reading

struct Chunk {
  Clock::time_point due;
  std::string bytes;
};

// One direction of a connection: what was read from `from` and waits to go to `to`.
struct Pipe {
  std::deque<Chunk> queue;
  std::size_t queued = 0;
  bool eof = false;  // `from` has closed: once the queue is empty, the connection ends
};

struct Session {
  int client = -1;
  int upstream = -1;  // -1: accepted while dropping, never connected
  Pipe up;            // client -> upstream
  Pipe down;          // upstream -> client
  bool dead = false;
};

void nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int connect_upstream(int port) {
  int fd = connect_loopback(port);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  nonblocking(fd);
  return fd;
}

void close_session(Session& s) {
  if (s.client >= 0) ::close(s.client);
  if (s.upstream >= 0) ::close(s.upstream);
  s.client = s.upstream = -1;
  s.dead = true;
}

// Reads what `fd` has into `pipe`; false when the side closed.
bool pump_in(int fd, Pipe& pipe, Clock::time_point due) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  pipe.queue.push_back({due, std::string(buf, static_cast<std::size_t>(n))});
  pipe.queued += static_cast<std::size_t>(n);
  return true;
}

// Writes the chunks of `pipe` that are due to `fd`; false when the side is gone.
bool pump_out(int fd, Pipe& pipe, Clock::time_point now, std::atomic<std::uint64_t>& forwarded) {
  while (!pipe.queue.empty() && pipe.queue.front().due <= now) {
    auto& c = pipe.queue.front();
    ssize_t n = ::send(fd, c.bytes.data(), c.bytes.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    forwarded += static_cast<std::uint64_t>(n);
    pipe.queued -= static_cast<std::size_t>(n);
    if (static_cast<std::size_t>(n) < c.bytes.size()) {
      c.bytes.erase(0, static_cast<std::size_t>(n));
      return true;
    }
    pipe.queue.pop_front();
  }
  return true;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port, int listen_port) : upstream_(upstream_port) {
  listener_ = listen_loopback(listen_port, 256, &port_);
  if (listener_ < 0) throw std::runtime_error("fault proxy: cannot listen on port " + std::to_string(listen_port));
  nonblocking(listener_);
  thread_ = std::thread([this] { run(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

void FaultProxy::set(Mode mode, std::chrono::milliseconds delay) {
  delay_ms_ = delay.count();
  mode_ = mode;
  ++generation_;
}

void FaultProxy::run() {
  std::list<Session> sessions;
  std::uint64_t seen_generation = generation_.load();
  std::vector<pollfd> fds;
  std::vector<Session*> owners;
  while (!stop_) {
    auto mode = mode_.load();
    if (auto g = generation_.load(); g != seen_generation) {
      seen_generation = g;
      if (mode == Mode::cut)
        for (auto& s : sessions) close_session(s);
      // Healed: connections accepted during the drop were never connected; end them.
      if (mode != Mode::drop)
        for (auto& s : sessions)
          if (s.upstream < 0) close_session(s);
    }
    std::erase_if(sessions, [](const Session& s) { return s.dead; });
    open_ = sessions.size();

    auto now = Clock::now();
    auto wake = now + std::chrono::milliseconds(20);
    fds.clear();
    owners.clear();
    fds.push_back({listener_, POLLIN, 0});
    owners.push_back(nullptr);
    auto watch = [&](Session& s, int fd, const Pipe& in, const Pipe& out) {
      if (mode == Mode::drop) {
        // Frozen: nothing moves either way (as when packets vanish and TCP retransmits
        // later); only a side hanging up is noticed.
        fds.push_back({fd, POLLRDHUP, 0});
        owners.push_back(&s);
        return;
      }
      short events = 0;
      if (!in.eof && in.queued < kMaxQueued) events |= POLLIN;
      if (!out.queue.empty()) {
        if (out.queue.front().due <= now)
          events |= POLLOUT;
        else
          wake = std::min(wake, out.queue.front().due);
      }
      fds.push_back({fd, events, 0});
      owners.push_back(&s);
    };
    for (auto& s : sessions) {
      if (s.dead) continue;
      watch(s, s.client, s.up, s.down);
      if (s.upstream >= 0) watch(s, s.upstream, s.down, s.up);
    }
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(timeout, 0)));

    now = Clock::now();
    mode = mode_.load();
    auto due = now + std::chrono::milliseconds(mode == Mode::delay ? delay_ms_.load() : 0);
    for (std::size_t i = 1; i < fds.size(); ++i) {
      Session& s = *owners[i];
      if (s.dead) continue;
      bool is_client = fds[i].fd == s.client;
      Pipe& in = is_client ? s.up : s.down;
      Pipe& out = is_client ? s.down : s.up;
      if (mode == Mode::drop) {
        if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) close_session(s);
        continue;
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!pump_in(fds[i].fd, in, due)) in.eof = true;
      }
      if (fds[i].revents & POLLOUT) {
        if (!pump_out(fds[i].fd, out, now, forwarded_)) close_session(s);
      }
    }
    for (auto& s : sessions) {
      if (s.dead) continue;
      // A side that closed ends the connection once what it sent has been delivered.
      if ((s.up.eof && s.up.queue.empty()) || (s.down.eof && s.down.queue.empty())) close_session(s);
    }

    if (fds[0].revents & POLLIN) {
      for (;;) {
        int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) break;
        ++accepted_;
        if (mode == Mode::cut) {
          ::close(fd);
          continue;
        }
        nonblocking(fd);
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Session s;
        s.client = fd;
        if (mode != Mode::drop) {
          s.upstream = connect_upstream(upstream_);
          if (s.upstream < 0) {
            ::close(fd);
            continue;
          }
        }
        sessions.push_back(std::move(s));
      }
    }
  }
  for (auto& s : sessions) close_session(s);
}

}  // namespace fedmesh::testing
