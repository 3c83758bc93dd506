#include "durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include <faiss/impl/io.h>
#include <fmt/format.h>
#include <openssl/evp.h>

#include "neardup/store/catalog.hpp"

namespace neardup::store {
namespace {

struct EvpDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Digest = std::unique_ptr<EVP_MD_CTX, EvpDeleter>;

Digest new_sha256() {
    Digest d(EVP_MD_CTX_new());
    if (!d || EVP_DigestInit_ex(d.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 unavailable");
    return d;
}

std::string hex_of(Digest& d) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(d.get(), out.data(), &n) != 1) throw std::runtime_error("SHA-256 failed");
    std::string hex;
    for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", out[i]);
    return hex;
}

std::string errno_text(int e) { return std::strerror(e); }

// A FAISS writer onto a file descriptor that hashes what it writes and remembers the first error.
class HashingFdWriter : public faiss::IOWriter {
public:
    HashingFdWriter(int fd, std::string file) : fd_(fd), digest_(new_sha256()) { name = std::move(file); }

    size_t operator()(const void* ptr, size_t size, size_t nitems) override {
        if (error_ != 0) return 0;
        const auto* p = static_cast<const char*>(ptr);
        std::size_t left = size * nitems;
        EVP_DigestUpdate(digest_.get(), p, left);
        while (left > 0) {
            const ssize_t n = ::write(fd_, p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                error_ = n < 0 ? errno : EIO;
                return 0;
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        return nitems;
    }
    int fileno() override { return fd_; }

    int error() const { return error_; }
    std::string hex() { return hex_of(digest_); }

private:
    int fd_;
    Digest digest_;
    int error_ = 0;
};

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    // close(2) reports late write errors (NFS); they count.
    int close() {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

private:
    int fd_;
};

}  // namespace

void sync_directory(const std::filesystem::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) throw StoreError("cannot open directory " + dir.string() + " to sync it: " + errno_text(errno));
    if (::fsync(fd.get()) != 0) throw StoreError("cannot sync directory " + dir.string() + ": " + errno_text(errno));
}

std::string write_file_durably(const std::filesystem::path& dir, const std::string& name,
                               const std::function<void(faiss::IOWriter&)>& write) {
    const auto final_path = dir / name;
    const auto tmp = dir / (name + ".tmp");
    auto fail = [&](const std::string& why) -> StoreError {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        return StoreError("cannot write " + final_path.string() + ": " + why);
    };
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) throw fail(errno_text(errno));
    HashingFdWriter writer(fd.get(), tmp.string());
    try {
        write(writer);
    } catch (const std::exception& e) {
        throw fail(writer.error() != 0 ? errno_text(writer.error()) : std::string(e.what()));
    }
    if (writer.error() != 0) throw fail(errno_text(writer.error()));
    if (::fsync(fd.get()) != 0) throw fail("fsync: " + errno_text(errno));
    if (fd.close() != 0) throw fail("close: " + errno_text(errno));
    std::string hex = writer.hex();
    std::error_code ec;
    std::filesystem::rename(tmp, final_path, ec);
    if (ec) throw fail("rename: " + ec.message());
    sync_directory(dir);
    return hex;
}

std::string write_file_durably(const std::filesystem::path& dir, const std::string& name, std::string_view text) {
    return write_file_durably(dir, name, [&](faiss::IOWriter& w) {
        if (!text.empty() && w(text.data(), 1, text.size()) != text.size()) throw std::runtime_error("short write");
    });
}

std::string sha256_file(const std::filesystem::path& file) {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) throw StoreError("cannot read " + file.string() + ": " + errno_text(errno));
    Digest digest = new_sha256();
    std::vector<char> buffer(1 << 20);
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw StoreError("cannot read " + file.string() + ": " + errno_text(errno));
        if (n == 0) break;
        EVP_DigestUpdate(digest.get(), buffer.data(), static_cast<std::size_t>(n));
    }
    return hex_of(digest);
}

}  // namespace neardup::store
