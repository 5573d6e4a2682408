// The node's identity key on disk, in geth's nodekey format: 64 lowercase hex characters and a
// newline, file mode 0600. A key file is created once (O_CREAT|O_EXCL) and never rewritten; a
// malformed file is an error, never replaced. Deriving ids and records from the key is not here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "discplane/common/result.h"
#include "discplane/crypto/secp256k1.h"

namespace discplane::control {

struct NodeKeyError {
  enum class Kind {
    kNotFound,    // load_key: no file at the path
    kIo,          // cannot read, create or write the file (or its directory)
    kMalformed,   // not 64 hex characters (plus optional trailing whitespace)
    kInvalidKey,  // hex, but zero or not below the curve order
    kExists,      // write_new_key: the file is already there
  };
  Kind kind = Kind::kIo;
  std::string path;
  std::string detail;

  // "PATH: detail"
  std::string to_string() const;
};

struct LoadedKey {
  crypto::PrivateKey key{};
  bool created = false;                // true if this call generated and wrote the file
  std::optional<std::string> warning;  // e.g. the file is readable by group/others
};

// Loads the key at `path`, or generates one and writes it there (parent directories created,
// mode 0700) when no file exists. Two processes racing both end up with the winner's key.
[[nodiscard]] Result<LoadedKey, NodeKeyError> load_or_create_key(const std::filesystem::path& path);

// Loads an existing key; never creates anything.
[[nodiscard]] Result<LoadedKey, NodeKeyError> load_key(const std::filesystem::path& path);

// Writes `key` to a new file (mode 0600, parents created); kExists if the path is taken.
[[nodiscard]] Result<void, NodeKeyError> write_new_key(const std::filesystem::path& path,
                                                       const crypto::PrivateKey& key);

// The file content: 64 lowercase hex characters and "\n".
std::string format_key(const crypto::PrivateKey& key);
// Parses file content (64 hex chars, optional surrounding whitespace, no "0x").
[[nodiscard]] Result<crypto::PrivateKey, NodeKeyError::Kind> parse_key(std::string_view text);

}  // namespace discplane::control
