// Node key file: created once with mode 0600, reloaded unchanged, never overwritten.
#include "discplane/control/node_key.h"

#include <sys/stat.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "temp_dir.h"

using namespace discplane;
using namespace discplane::control;

namespace {

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Any valid key (not all zero, below the curve order).
const char* kKeyHex = "45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8";

}  // namespace

TEST_CASE("node key: created 0600 in a new directory, then reloaded", "[control][node_key]") {
  test::TempDir dir;
  const auto path = dir / "data/keys/nodekey";
  auto created = load_or_create_key(path);
  INFO((created ? "" : created.error().to_string()));
  REQUIRE(created);
  CHECK(created->created);
  CHECK_FALSE(created->warning);
  CHECK(crypto::is_valid_private_key(created->key));
  CHECK(mode_of(path) == 0600);

  const std::string text = test::read_file(path);
  CHECK(text == to_hex(created->key) + "\n");
  CHECK(text.size() == 65);

  auto again = load_or_create_key(path);
  REQUIRE(again);
  CHECK_FALSE(again->created);
  CHECK_FALSE(again->warning);
  CHECK(again->key == created->key);
  CHECK(test::read_file(path) == text);

  // A second fresh file gets a different key.
  auto other = load_or_create_key(dir / "other");
  REQUIRE(other);
  CHECK(other->key != created->key);
}

TEST_CASE("node key: a geth-style file is read as written", "[control][node_key]") {
  test::TempDir dir;
  const auto path = dir.write("nodekey", std::string(kKeyHex));  // geth writes no newline
  ::chmod(path.c_str(), 0600);
  auto loaded = load_or_create_key(path);
  REQUIRE(loaded);
  CHECK_FALSE(loaded->created);
  CHECK(to_hex(loaded->key) == kKeyHex);

  CHECK(parse_key(std::string(kKeyHex) + "\r\n").has_value());
  CHECK(parse_key(std::string("0x") + kKeyHex).error() == NodeKeyError::Kind::kMalformed);
  CHECK(parse_key(std::string(kKeyHex).substr(1)).error() == NodeKeyError::Kind::kMalformed);
  CHECK(parse_key(std::string(kKeyHex) + "0").error() == NodeKeyError::Kind::kMalformed);
  CHECK(parse_key(std::string(64, '0')).error() == NodeKeyError::Kind::kInvalidKey);
  CHECK(parse_key(std::string(64, 'f')).error() == NodeKeyError::Kind::kInvalidKey);
}

TEST_CASE("node key: group/other access gives a warning, file untouched", "[control][node_key]") {
  test::TempDir dir;
  const auto path = dir.write("nodekey", std::string(kKeyHex) + "\n");
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto loaded = load_or_create_key(path);
  REQUIRE(loaded);
  REQUIRE(loaded->warning);
  CHECK(loaded->warning->find(path.string()) != std::string::npos);
  CHECK(loaded->warning->find("0644") != std::string::npos);
  CHECK(to_hex(loaded->key) == kKeyHex);
  CHECK(mode_of(path) == 0644);  // we warn, we do not chmod behind the operator's back
}

TEST_CASE("node key: malformed or invalid files are errors and left as they are",
          "[control][node_key]") {
  test::TempDir dir;
  for (const std::string& content :
       {std::string("not a key\n"), std::string(""), std::string(64, '0') + "\n",
        std::string(kKeyHex) + " extra"}) {
    INFO("content: " << content);
    const auto path = dir.write("nodekey", content);
    ::chmod(path.c_str(), 0600);
    auto loaded = load_or_create_key(path);
    REQUIRE_FALSE(loaded);
    CHECK((loaded.error().kind == NodeKeyError::Kind::kMalformed ||
           loaded.error().kind == NodeKeyError::Kind::kInvalidKey));
    CHECK(loaded.error().path == path.string());
    CHECK(loaded.error().to_string().starts_with(path.string() + ": "));
    CHECK(test::read_file(path) == content);
  }
  auto dir_as_key = load_or_create_key(dir.path());
  REQUIRE_FALSE(dir_as_key);
  CHECK(dir_as_key.error().kind == NodeKeyError::Kind::kMalformed);
}

TEST_CASE("node key: write_new_key refuses to overwrite, load_key never creates",
          "[control][node_key]") {
  test::TempDir dir;
  const auto path = dir / "nodekey";
  auto missing = load_key(path);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == NodeKeyError::Kind::kNotFound);
  CHECK_FALSE(std::filesystem::exists(path));

  const auto key = crypto::generate_private_key();
  REQUIRE(write_new_key(path, key));
  CHECK(mode_of(path) == 0600);
  CHECK(test::read_file(path) == format_key(key));

  const auto other = crypto::generate_private_key();
  auto again = write_new_key(path, other);
  REQUIRE_FALSE(again);
  CHECK(again.error().kind == NodeKeyError::Kind::kExists);
  CHECK(test::read_file(path) == format_key(key));

  // A parent that is a file: an I/O error naming the path, nothing created.
  const auto blocker = dir.write("blocker", "x");
  auto blocked = load_or_create_key(blocker / "nodekey");
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().kind == NodeKeyError::Kind::kIo);
  CHECK(test::read_file(blocker) == "x");
}
