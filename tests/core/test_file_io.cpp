#include <gtest/gtest.h>

#include <filesystem>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "test_support.h"

using namespace nanochat;

TEST(FileIo, AtomicWriteReplacesAndLeavesNoTemporaries) {
  test::TempDir dir;
  const auto p = dir.path() / "f.bin";
  write_file_atomic(p, std::string("first\0bytes", 11));
  EXPECT_EQ(read_file(p), std::string("first\0bytes", 11));
  write_file_atomic(p, "second");
  EXPECT_EQ(read_file(p), "second");
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(FileIo, ErrorsNameThePath) {
  try {
    read_file("/nonexistent/dir/x.txt");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.txt"), std::string::npos);
  }
  EXPECT_THROW(write_file_atomic("/nonexistent/dir/x.txt", "x"), Error);
}
