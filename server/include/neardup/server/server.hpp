// The network side of the API: Boost.Beast sessions on Asio I/O threads, heavy requests on a bounded oneTBB
// worker pool, graceful shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "neardup/server/handler.hpp"
#include "neardup/server/metrics.hpp"

namespace neardup::server {

struct ServerOptions {
    std::string address = "127.0.0.1";
    unsigned short port = 8080;  // 0: any free port (see Server::port)
    int io_threads = 1;
    int workers = 0;  // 0: one per hardware thread
    // Requests waiting for or running on the workers; past it a request is answered 503 with Retry-After.
    std::size_t queue_limit = 64;
    // Open connections; one more is closed as soon as it is accepted (each costs a socket and buffers).
    std::size_t max_connections = 1024;
    std::size_t header_limit = 16u << 10;
    // Time to receive a request's headers (and the idle time allowed between keep-alive requests), and
    // then its body. A client too slow is answered 408 and disconnected.
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{60'000};
    std::chrono::milliseconds write_timeout{60'000};
};

class Session;

class Server {
public:
    // The body limit is the handler's (HandlerOptions::body_limit). Binds and listens; throws std::system_error when the address cannot be used.
    Server(Handler& handler, Metrics& metrics, ServerOptions options);
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

private:
    friend class Session;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace neardup::server
