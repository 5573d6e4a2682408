// Node key file: load, or create once with O_CREAT|O_EXCL and mode 0600. An existing file is
// never written to; if it is malformed the operator must fix or remove it. A file left partly
// written by our own failed create is removed, since no one else can have used it.
#include "discplane/control/node_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

namespace discplane::control {

namespace {

constexpr std::size_t kHexLength = 64;
constexpr std::size_t kMaxFileSize = 4096;  // a key file is 65 bytes; refuse to slurp big ones

NodeKeyError io_error(const std::filesystem::path& path, std::string what, int err) {
  return {NodeKeyError::Kind::kIo, path.string(), what + ": " + std::strerror(err)};
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

Result<void, NodeKeyError> write_all(int fd, std::string_view data,
                                     const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return tl::unexpected(io_error(path, "cannot write", errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

std::string NodeKeyError::to_string() const {
  return path + ": " + detail;
}

std::string format_key(const crypto::PrivateKey& key) {
  return to_hex(key) + "\n";
}

Result<crypto::PrivateKey, NodeKeyError::Kind> parse_key(std::string_view text) {
  while (!text.empty() && is_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_space(text.back())) {
    text.remove_suffix(1);
  }
  if (text.size() != kHexLength || text.starts_with("0x")) {
    return tl::unexpected(NodeKeyError::Kind::kMalformed);
  }
  Bytes raw;
  if (!from_hex(text, raw) || raw.size() != 32) {
    return tl::unexpected(NodeKeyError::Kind::kMalformed);
  }
  const auto key = to_array<32>(raw);
  if (!crypto::is_valid_private_key(key)) {
    return tl::unexpected(NodeKeyError::Kind::kInvalidKey);
  }
  return key;
}

Result<LoadedKey, NodeKeyError> load_key(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    auto e = io_error(path, "cannot open key file", err);
    if (err == ENOENT) {
      e.kind = NodeKeyError::Kind::kNotFound;
    }
    return tl::unexpected(std::move(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return tl::unexpected(io_error(path, "cannot stat key file", err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return tl::unexpected(
        NodeKeyError{NodeKeyError::Kind::kMalformed, path.string(), "not a regular file"});
  }
  std::string text(kMaxFileSize + 1, '\0');
  std::size_t used = 0;
  while (used < text.size()) {
    const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return tl::unexpected(io_error(path, "cannot read key file", err));
    }
    if (n == 0) {
      break;
    }
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(used);

  auto key = parse_key(text);
  if (!key) {
    const bool invalid = key.error() == NodeKeyError::Kind::kInvalidKey;
    return tl::unexpected(NodeKeyError{
        key.error(), path.string(),
        invalid ? "not a valid secp256k1 private key (zero or above the curve order)"
                : "malformed key file (want 64 hex characters, as written by `discctl key "
                  "generate`); the file was left untouched"});
  }
  LoadedKey out{*key, false, std::nullopt};
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    out.warning = path.string() + " is accessible by group/others (mode " + mode +
                  "); run: chmod 600 " + path.string();
  }
  return out;
}

Result<void, NodeKeyError> write_new_key(const std::filesystem::path& path,
                                         const crypto::PrivateKey& key) {
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return tl::unexpected(NodeKeyError{
          NodeKeyError::Kind::kIo, path.string(),
          "cannot create directory " + path.parent_path().string() + ": " + ec.message()});
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return tl::unexpected(NodeKeyError{NodeKeyError::Kind::kExists, path.string(),
                                         "already exists; refusing to overwrite a key"});
    }
    return tl::unexpected(io_error(path, "cannot create key file", errno));
  }
  // The umask may have narrowed 0600 further; make the mode exact.
  auto written = ::fchmod(fd, 0600) == 0 ? write_all(fd, format_key(key), path)
                                         : tl::unexpected(io_error(path, "cannot chmod", errno));
  if (written && ::fsync(fd) != 0) {
    written = tl::unexpected(io_error(path, "cannot sync", errno));
  }
  if (::close(fd) != 0 && written) {
    written = tl::unexpected(io_error(path, "cannot close", errno));
  }
  if (!written) {
    ::unlink(path.c_str());  // ours, half-written: no one can depend on it
    return written;
  }
  return {};
}

Result<LoadedKey, NodeKeyError> load_or_create_key(const std::filesystem::path& path) {
  auto loaded = load_key(path);
  if (loaded || loaded.error().kind != NodeKeyError::Kind::kNotFound) {
    return loaded;
  }
  const crypto::PrivateKey key = crypto::generate_private_key();
  auto written = write_new_key(path, key);
  if (!written) {
    if (written.error().kind == NodeKeyError::Kind::kExists) {
      return load_key(path);  // lost a race with another process: use its key
    }
    return tl::unexpected(written.error());
  }
  return LoadedKey{key, true, std::nullopt};
}

}  // namespace discplane::control
