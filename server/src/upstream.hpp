// An HTTP/1.1 client to one replica, for the router: asynchronous exchanges on the router's io_context, each
// bounded by a deadline, over kept-alive connections it pools.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "neardup/server/http.hpp"
#include "neardup/server/route_table.hpp"

namespace neardup::server {

// Thread-safe. Made with std::make_shared: exchanges in flight hold it.
class Upstream : public std::enable_shared_from_this<Upstream> {
public:
    using Clock = std::chrono::steady_clock;
    // Called once, on an I/O thread: an error (connect, send, receive, timeout at the deadline), or the answer.
    using Done = std::function<void(boost::system::error_code, Response)>;
    // Largest answer read (a listing of 500 entries, a thumbnail, or a PDQ search of 1000 hashes fits far below).
    static constexpr std::size_t kMaxResponseBytes = 64u << 20;

    Upstream(boost::asio::any_io_executor executor, Endpoint endpoint, std::size_t max_idle = 32);
    ~Upstream();

    // Sends `request` as is (its Host, connection and length fields set by the caller) and reads the answer.
    // A kept-alive connection the replica closed meanwhile is retried once on a new connection.
    void send(std::shared_ptr<const Request> request, Clock::time_point deadline, Done done);
    const Endpoint& endpoint() const { return endpoint_; }
    // Closes the pooled idle connections (a replica that failed may have been restarted).
    void drop_idle();

private:
    struct Exchange;
    std::unique_ptr<boost::beast::tcp_stream> take_idle();
    void give_back(std::unique_ptr<boost::beast::tcp_stream> stream);

    boost::asio::any_io_executor executor_;
    Endpoint endpoint_;
    std::size_t max_idle_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<boost::beast::tcp_stream>> idle_;
};

}  // namespace neardup::server
