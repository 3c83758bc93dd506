#include "directory_lock.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "neardup/store/catalog.hpp"

namespace neardup::store {
namespace {

constexpr const char* kLockFile = "LOCK";

std::string read_holder(int fd) {
    char buffer[512];
    const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
    std::string text = n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
    return text.empty() ? "another process (it has not written its name yet)" : text;
}

}  // namespace

DirectoryLock::DirectoryLock(const std::filesystem::path& dir) {
    const auto file = dir / kLockFile;
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        const int e = errno;
        if (e == EROFS || e == EACCES || e == EPERM)
            throw StoreError("cannot lock index directory " + dir.string() + " for writing (" + std::strerror(e) +
                             "): on read-only storage, only read-only commands (query, stats, check) can open it");
        throw StoreError("cannot create " + file.string() + ": " + std::strerror(e));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        const std::string holder = read_holder(fd_);
        ::close(fd_);
        fd_ = -1;
        if (e == EWOULDBLOCK)
            throw StoreError("index directory " + dir.string() + " is locked for writing by " + holder +
                             ". One process writes to an index directory at a time: stop it, or send adds and "
                             "deletes through its HTTP API; read-only commands (query, stats, check) still work");
        throw StoreError("cannot lock " + file.string() + ": " + std::strerror(e));
    }
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    const std::string holder = fmt::format("pid {} ({}) since {:%Y-%m-%dT%H:%M:%S}Z\n", ::getpid(),
                                           program_invocation_short_name, now);
    // Best effort: the description is for people; the flock is the lock.
    if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, holder.data(), holder.size(), 0) < 0) {
    }
}

DirectoryLock::~DirectoryLock() {
    if (fd_ < 0) return;
    if (::ftruncate(fd_, 0) != 0) {
    }
    ::close(fd_);  // releases the flock
}

}  // namespace neardup::store
