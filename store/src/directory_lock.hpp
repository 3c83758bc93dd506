// The write lock of an index directory: DIR/LOCK held with flock(2) for the life of the object. One writing
// process per directory is what keeps every process's index views in step with the catalog.
#pragma once

#include <filesystem>

namespace neardup::store {

class DirectoryLock {
public:
    // Takes the lock at once or throws StoreError naming the holder (pid, program, since when) — another
    // process, or another Store in this one. The file keeps the holder's description while it is held.
    explicit DirectoryLock(const std::filesystem::path& dir);
    ~DirectoryLock();
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;

private:
    int fd_ = -1;
};

}  // namespace neardup::store
