// hellofs: pyfuse3's hello example on fusepp, the one docs/binding-ops.md walks through. One
// read-only file, "message", in the root. Usage: hellofs MOUNTPOINT (serves in the foreground
// until unmounted).
#include <fusepp/fusepp.hpp>

#include <cstdio>
#include <exception>

namespace {

class HelloFs : public fusepp::Operations {
  static constexpr fusepp::InodeT kFile{2};
  inline static const std::string kData = "hello world\n";

  fusepp::EntryAttributes attrs(fusepp::InodeT ino) {
    fusepp::EntryAttributes a;
    a.st_ino = ino;
    if (ino == fusepp::ROOT_INODE) {
      a.st_mode = S_IFDIR | 0755;
      a.st_nlink = 2;
    } else {
      a.st_mode = S_IFREG | 0444;
      a.st_size = static_cast<int64_t>(kData.size());
    }
    return a;
  }

 public:
  fusepp::Reply<fusepp::EntryAttributes> lookup(fusepp::InodeT parent, std::string_view name,
                                                const fusepp::RequestContext&) override {
    if (parent == fusepp::ROOT_INODE && name == "message") co_return attrs(kFile);
    co_return fusepp::FUSEError(ENOENT);  // a value, not a throw: cheap
  }
  fusepp::Reply<fusepp::EntryAttributes> getattr(fusepp::InodeT ino, const fusepp::RequestContext&) override {
    if (ino != fusepp::ROOT_INODE && ino != kFile) co_return fusepp::FUSEError(ENOENT);
    co_return attrs(ino);
  }
  fusepp::Reply<fusepp::FileHandleT> opendir(fusepp::InodeT, const fusepp::RequestContext&) override {
    co_return fusepp::FileHandleT{0};
  }
  fusepp::Reply<void> readdir(fusepp::FileHandleT, off_t start_id, fusepp::ReaddirToken& token) override {
    // The filesystem's own handler, called without a request (pyfuse3: getattr(inode, None)).
    // GCC 12 miscompiles co_await inside an if/while condition: bind the result first.
    fusepp::Result<fusepp::EntryAttributes> attr = co_await fusepp::call(getattr(kFile, fusepp::no_context));
    if (!attr) co_return fusepp::FUSEError(attr.error());
    if (start_id == 0) fusepp::readdir_reply(token, "message", *attr, 1);  // next_id: non-zero, stable
    co_return fusepp::ok;
  }
  fusepp::Reply<fusepp::FileInfo> open(fusepp::InodeT, fusepp::FlagT flags, const fusepp::RequestContext&) override {
    if ((flags & O_ACCMODE) != O_RDONLY) co_return fusepp::FUSEError(EACCES);
    co_return fusepp::FileInfo{.fh = fusepp::FileHandleT{2}};
  }
  fusepp::Reply<std::string> read(fusepp::FileHandleT, off_t off, size_t size) override {
    co_return off < static_cast<off_t>(kData.size()) ? kData.substr(off, size) : std::string();
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: hellofs MOUNTPOINT\n");
    return 2;
  }
  HelloFs fs;
  try {
    fusepp::init(fs, argv[1]);  // mounts (default_options: default_permissions)
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hellofs: %s\n", e.what());
    return 1;
  }
  fusepp::main();  // serves until unmounted or terminate()
  fusepp::close(/*unmount=*/true);
  return 0;
}
