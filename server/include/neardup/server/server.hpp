// The network side of the API: Boost.Beast sessions on Asio I/O threads, heavy requests on a bounded oneTBB
// worker pool, graceful shutdown.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "neardup/server/service.hpp"
#include "neardup/server/metrics.hpp"

namespace neardup::server {

// From this share of max_connections on, a new connection makes the server close its oldest idle one (waiting
// for a request with nothing of it read), so that idle keep-alive connections cannot keep new clients out.
// The 10 % left is the room for new clients while the idle ones close.
inline constexpr double kShedIdleAt = 0.9;

struct ServerOptions {
    std::string address = "127.0.0.1";
    unsigned short port = 8080;  // 0: any free port (see Server::port)
    int io_threads = 1;
    int workers = 0;  // 0: one per hardware thread
    // Requests waiting for or running on the workers; past it a request is answered 503 with Retry-After.
    std::size_t queue_limit = 64;
    // Open connections; one more is closed as soon as it is accepted (each costs a socket and buffers). From
    // kShedIdleAt of it on, each new connection also closes the oldest idle one.
    std::size_t max_connections = 1024;
    // Open connections from one client address; one more is closed as soon as it is accepted, so that one
    // client cannot hold every connection. 64 is far more than a browser or an HTTP client pool opens (6 to
    // 16). Behind a reverse proxy every connection comes from the proxy: raise it to max_connections there.
    std::size_t max_connections_per_client = 64;
    // Bytes of request bodies held in memory across all connections; at least the body limit. A request
    // reserves its Content-Length (the body limit when chunked) once its headers are read and gives it back
    // once answered. One that does not fit is answered 503 `overloaded` with Retry-After at once, its body
    // unread, and its connection closed: waiting would hold a connection and a client that may never send.
    // 256 MiB holds 12 bodies at the default 20 MiB limit, and hundreds of photos of a few MiB.
    std::size_t max_body_bytes_in_flight = 256u << 20;
    std::size_t header_limit = 16u << 10;
    // Time to receive a request's headers (and the idle time allowed between keep-alive requests), and
    // then its body. A client too slow is answered 408 and disconnected.
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{60'000};
    std::chrono::milliseconds write_timeout{60'000};
};

// What the server holds now, and counts since it started.
struct ServerState {
    std::size_t connections = 0;          // open
    std::size_t idle_connections = 0;     // waiting for a request, nothing of it read yet
    std::size_t body_bytes_reserved = 0;  // of max_body_bytes_in_flight
    std::uint64_t accepted = 0;           // connections served
    std::uint64_t closed = 0;             // of those, since closed
    std::uint64_t refused = 0;            // connections closed on accept, over a limit
    std::uint64_t shed = 0;               // idle connections closed to make room
    std::uint64_t requests = 0;           // requests whose headers were read
};

class Session;

class Server {
public:
    // The body limit is the service's. Binds and listens; throws std::system_error when the address cannot be used.
    Server(Service& service, Metrics& metrics, ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    unsigned short port() const;
    // SIGINT and SIGTERM call stop().
    void stop_on_signals();
    // Serves until stop(); returns once every accepted request has been answered.
    void run();
    // Thread-safe: stops accepting, closes idle connections, lets requests in flight finish.
    void stop();
    bool stopping() const;

    ServerState state() const;
    // Blocks until `done(state())` holds or `timeout` passes; returns whether it holds. Every change of the state
    // wakes it, so that tests wait for the server instead of sleeping.
    bool wait_until(const std::function<bool(const ServerState&)>& done, std::chrono::milliseconds timeout) const;

private:
    friend class Session;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace neardup::server
