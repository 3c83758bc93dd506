// The catalogs' read connections: each under its own mutex, taken free if one is, else the next in turn.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace neardup::store::detail {

// Searches on several threads read candidate rows at once; one connection behind one lock would serialise
// them. `Connection` has a `mutex` member; `out` receives the one whose lock is returned.
template <typename Connection>
std::unique_lock<std::mutex> lock_a_reader(const std::vector<std::unique_ptr<Connection>>& pool, std::atomic<std::size_t>& next,
                                           Connection*& out) {
    const std::size_t start = next.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < pool.size(); ++i) {
        Connection& c = *pool[(start + i) % pool.size()];
        std::unique_lock lock(c.mutex, std::try_to_lock);
        if (lock.owns_lock()) {
            out = &c;
            return lock;
        }
    }
    out = pool[start % pool.size()].get();
    return std::unique_lock(out->mutex);
}

}  // namespace neardup::store::detail
