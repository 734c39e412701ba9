#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/data/eval_bundle_download.h"
#include "nanochat/data/zip_archive.h"
#include "test_support.h"

using namespace nanochat;
namespace fs = std::filesystem;

namespace {

// Builds zip archives byte by byte, independently of the reader under test.
struct TestEntry {
  std::string name;
  std::string data;
  uint16_t method = 0;               // 0 stored, 8 deflate (raw, via zlib), anything else written as stored bytes
  std::optional<uint32_t> crc;       // override to corrupt
  std::optional<uint32_t> csize;     // override the central directory's compressed size
};

void put16(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}

std::string raw_deflate(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string build_zip(const std::vector<TestEntry>& entries) {
  std::string body, central;
  for (const TestEntry& e : entries) {
    const std::string payload = e.method == 8 ? raw_deflate(e.data) : e.data;
    const uint32_t crc = e.crc ? *e.crc
                               : static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(e.data.data()),
                                                             static_cast<uInt>(e.data.size())));
    const uint32_t csize = e.csize ? *e.csize : static_cast<uint32_t>(payload.size());
    const auto offset = static_cast<uint32_t>(body.size());
    put32(body, 0x04034b50);
    put16(body, 20);
    put16(body, 0);
    put16(body, e.method);
    put16(body, 0);
    put16(body, 0x21);
    put32(body, crc);
    put32(body, csize);
    put32(body, static_cast<uint32_t>(e.data.size()));
    put16(body, static_cast<uint32_t>(e.name.size()));
    put16(body, 0);
    body += e.name;
    body += payload;

    put32(central, 0x02014b50);
    put16(central, 0x031E);
    put16(central, 20);
    put16(central, 0);
    put16(central, e.method);
    put16(central, 0);
    put16(central, 0x21);
    put32(central, crc);
    put32(central, csize);
    put32(central, static_cast<uint32_t>(e.data.size()));
    put16(central, static_cast<uint32_t>(e.name.size()));
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put32(central, 0);
    put32(central, offset);
    central += e.name;
  }
  std::string zip = body + central;
  put32(zip, 0x06054b50);
  put16(zip, 0);
  put16(zip, 0);
  put16(zip, static_cast<uint32_t>(entries.size()));
  put16(zip, static_cast<uint32_t>(entries.size()));
  put32(zip, static_cast<uint32_t>(central.size()));
  put32(zip, static_cast<uint32_t>(body.size()));
  put16(zip, 0);
  return zip;
}

std::string big_text() {
  std::string s;
  for (int i = 0; i < 20000; ++i) s += "line " + std::to_string(i * 7919 % 10007) + " of the deflated entry\n";
  return s;  // ~500 KB: several 64 KB chunks in and out
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

fs::path write_zip(const fs::path& dir, const std::string& name, const std::vector<TestEntry>& entries) {
  const fs::path p = dir / name;
  write_file_atomic(p, build_zip(entries));
  return p;
}

TEST(ZipArchive, RoundTripsStoredAndDeflatedEntries) {
  test::TempDir tmp;
  const std::string text = big_text();
  const fs::path zip = write_zip(tmp.path(), "a.zip",
                                 {{"hello.txt", "hello, zip\n", 0, {}, {}},
                                  {"dir/sub/big.txt", text, 8, {}, {}},
                                  {"empty/", "", 0, {}, {}},
                                  {"zero.bin", "", 8, {}, {}}});
  const ZipArchive archive(zip);
  ASSERT_EQ(archive.entries().size(), 4u);
  EXPECT_EQ(archive.entries()[0].name, "hello.txt");
  EXPECT_EQ(archive.read_entry(archive.entries()[0]), "hello, zip\n");
  EXPECT_EQ(archive.entries()[1].method, 8);
  EXPECT_LT(archive.entries()[1].compressed_size, text.size() / 2);
  EXPECT_EQ(archive.read_entry(archive.entries()[1]), text);
  EXPECT_TRUE(archive.entries()[2].is_directory());
  EXPECT_EQ(archive.read_entry(archive.entries()[3]), "");

  const fs::path out = tmp.path() / "out";
  extract_zip(zip, out);
  EXPECT_EQ(read_file(out / "hello.txt"), "hello, zip\n");
  EXPECT_EQ(read_file(out / "dir" / "sub" / "big.txt"), text);
  EXPECT_TRUE(fs::is_directory(out / "empty"));
  EXPECT_TRUE(fs::is_regular_file(out / "zero.bin"));
  EXPECT_EQ(fs::file_size(out / "zero.bin"), 0u);
}

TEST(ZipArchive, DetectsCrcMismatch) {
  test::TempDir tmp;
  const fs::path zip = write_zip(tmp.path(), "crc.zip",
                                 {{"ok.txt", "fine", 0, {}, {}}, {"bad.txt", big_text(), 8, 0x12345678u, {}}});
  const ZipArchive archive(zip);
  EXPECT_EQ(archive.read_entry(archive.entries()[0]), "fine");
  const std::string msg = error_of([&] { archive.read_entry(archive.entries()[1]); });
  EXPECT_NE(msg.find("CRC-32 mismatch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find(zip.string()), std::string::npos) << msg;
}

TEST(ZipArchive, DetectsCorruptDeflateData) {
  test::TempDir tmp;
  std::string bytes = build_zip({{"data.txt", big_text(), 8, {}, {}}});
  for (size_t i = 100; i < 400; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5A);
  const fs::path zip = tmp.path() / "corrupt.zip";
  write_file_atomic(zip, bytes);
  const ZipArchive archive(zip);
  const std::string msg = error_of([&] { archive.read_entry(archive.entries()[0]); });
  EXPECT_NE(msg.find("data.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
}

TEST(ZipArchive, RejectsTruncatedArchivesNamingTheFile) {
  test::TempDir tmp;
  const std::string bytes = build_zip({{"a.txt", big_text(), 8, {}, {}}, {"b.txt", "bee", 0, {}, {}}});
  for (size_t keep : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    const fs::path zip = tmp.path() / ("cut" + std::to_string(keep) + ".zip");
    write_file_atomic(zip, bytes.substr(0, keep));
    const std::string msg = error_of([&] { ZipArchive archive(zip); });
    EXPECT_NE(msg.find(zip.string()), std::string::npos) << keep << ": " << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << keep << ": " << msg;
  }
  // Sizes that point past the end of the file (a body cut out of the middle) are caught per entry.
  const fs::path zip = write_zip(tmp.path(), "long.zip", {{"long.txt", "short", 0, {}, 1u << 20}});
  const std::string msg = error_of([&] {
    const ZipArchive archive(zip);
    archive.read_entry(archive.entries()[0]);
  });
  EXPECT_NE(msg.find("long.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find(zip.string()), std::string::npos) << msg;
}

TEST(ZipArchive, RefusesZipSlipBeforeWritingAnything) {
  test::TempDir tmp;
  for (const std::string bad : {"../x", "/etc/x", "a/../../x", "ok/../../x"}) {
    const fs::path zip = write_zip(tmp.path(), "slip.zip", {{"first.txt", "1", 0, {}, {}}, {bad, "evil", 0, {}, {}}});
    const fs::path out = tmp.path() / "out" / "inner";
    const std::string msg = error_of([&] { extract_zip(zip, out); });
    EXPECT_NE(msg.find("'" + bad + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(zip.string()), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(out / "first.txt")) << "names must be validated before extraction starts";
    EXPECT_FALSE(fs::exists(tmp.path() / "out" / "x"));
    EXPECT_FALSE(fs::exists(tmp.path() / "x"));
  }
  EXPECT_EQ(zip_entry_relative_path("z.zip", "./a//b/./c.txt"), fs::path("a/b/c.txt"));
  EXPECT_EQ(zip_entry_relative_path("z.zip", "a..b/..c"), fs::path("a..b/..c"));
}

TEST(ZipArchive, RefusesUnsupportedFeatures) {
  test::TempDir tmp;
  const fs::path bz = write_zip(tmp.path(), "bzip2.zip", {{"b.txt", "x", 12, {}, {}}});
  std::string msg = error_of([&] { ZipArchive archive(bz); });
  EXPECT_NE(msg.find("method 12"), std::string::npos) << msg;
  EXPECT_NE(msg.find("b.txt"), std::string::npos) << msg;

  const fs::path z64 = write_zip(tmp.path(), "zip64.zip", {{"big.bin", "x", 0, {}, 0xFFFFFFFFu}});
  msg = error_of([&] { ZipArchive archive(z64); });
  EXPECT_NE(msg.find("zip64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("big.bin"), std::string::npos) << msg;

  const fs::path not_zip = tmp.path() / "text.zip";
  write_file_atomic(not_zip, std::string(5000, 'x'));
  msg = error_of([&] { ZipArchive archive(not_zip); });
  EXPECT_NE(msg.find("end-of-central-directory"), std::string::npos) << msg;
}

// Sets an environment variable for one test and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

DownloadOptions quiet() {
  DownloadOptions o;
  o.show_progress = false;
  o.backoff_seconds = 0.01;
  return o;
}

std::vector<TestEntry> bundle_entries() {
  return {{"eval_bundle/", "", 0, {}, {}},
          {"eval_bundle/core.yaml", "icl_tasks:\n- label: copa\n", 8, {}, {}},
          {"eval_bundle/eval_meta_data.csv", "Eval Task,Random baseline\ncopa,50.0\n", 0, {}, {}},
          {"eval_bundle/eval_data/commonsense_reasoning/copa.jsonl", "{\"query\": \"q\"}\n", 8, {}, {}}};
}

size_t leftover_temp_dirs(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".eval_bundle.extract-", 0) == 0) ++n;
  return n;
}

TEST(EvalBundle, DownloadsFromFileUrlOnceAndPlacesTheDirectory) {
  test::TempDir tmp;
  const fs::path source = write_zip(tmp.path(), "mirror.zip", bundle_entries());
  const ScopedEnv env("NANOCHAT_EVAL_BUNDLE_URL", "file://" + source.string());
  EXPECT_EQ(eval_bundle_url(), "file://" + source.string());
  const fs::path base = tmp.path() / "base";
  const fs::path bundle = base / "eval_bundle";

  EXPECT_TRUE(ensure_eval_bundle(bundle, quiet()));
  EXPECT_EQ(read_file(bundle / "core.yaml"), "icl_tasks:\n- label: copa\n");
  EXPECT_EQ(read_file(bundle / "eval_meta_data.csv"), "Eval Task,Random baseline\ncopa,50.0\n");
  EXPECT_TRUE(fs::is_regular_file(bundle / "eval_data" / "commonsense_reasoning" / "copa.jsonl"));
  EXPECT_TRUE(fs::is_regular_file(base / "eval_bundle.zip")) << "the archive is kept, as the original does";
  EXPECT_EQ(leftover_temp_dirs(base), 0u);

  // With the source and the cached archive gone, a second call must not need them.
  fs::remove(source);
  fs::remove(base / "eval_bundle.zip");
  EXPECT_FALSE(ensure_eval_bundle(bundle, quiet()));
  EXPECT_FALSE(ensure_eval_bundle(bundle.string() + "/", quiet()));
  EXPECT_TRUE(fs::is_regular_file(bundle / "core.yaml"));
}

TEST(EvalBundle, ReusesAnAlreadyDownloadedArchive) {
  test::TempDir tmp;
  const ScopedEnv env("NANOCHAT_EVAL_BUNDLE_URL", "file://" + (tmp.path() / "absent.zip").string());
  const fs::path bundle = tmp.path() / "custom";
  write_zip(tmp.path(), "custom.zip", bundle_entries());
  EXPECT_EQ(eval_bundle_zip_path(bundle), tmp.path() / "custom.zip");
  EXPECT_TRUE(ensure_eval_bundle(bundle, quiet()));
  EXPECT_TRUE(fs::is_regular_file(bundle / "core.yaml"));
}

TEST(EvalBundle, FailuresLeaveNoBundleBehind) {
  test::TempDir tmp;
  const fs::path bundle = tmp.path() / "eval_bundle";
  {
    const std::string url = "file://" + (tmp.path() / "absent.zip").string();
    const ScopedEnv env("NANOCHAT_EVAL_BUNDLE_URL", url);
    const std::string msg = error_of([&] { ensure_eval_bundle(bundle, quiet()); });
    EXPECT_NE(msg.find("not found and cannot be downloaded"), std::string::npos) << msg;
    EXPECT_NE(msg.find(url), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(bundle));
  }
  {
    // A body that is not a zip fails verification and is not kept under the final name.
    const fs::path html = tmp.path() / "error.html";
    write_file_atomic(html, "<html>Access Denied</html>");
    const ScopedEnv env("NANOCHAT_EVAL_BUNDLE_URL", "file://" + html.string());
    const std::string msg = error_of([&] { ensure_eval_bundle(bundle, quiet()); });
    EXPECT_NE(msg.find("verification"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(bundle));
    EXPECT_FALSE(fs::exists(eval_bundle_zip_path(bundle)));
  }
  {
    // A zip without the eval_bundle/ top folder: clear error, no half-placed directory, no temp dirs.
    const fs::path wrong = write_zip(tmp.path(), "wrong.zip", {{"bundle/core.yaml", "x", 0, {}, {}}});
    const ScopedEnv env("NANOCHAT_EVAL_BUNDLE_URL", "file://" + wrong.string());
    const std::string msg = error_of([&] { ensure_eval_bundle(bundle, quiet()); });
    EXPECT_NE(msg.find("no top-level eval_bundle/"), std::string::npos) << msg;
    EXPECT_NE(msg.find("delete"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(bundle));
    EXPECT_EQ(leftover_temp_dirs(tmp.path()), 0u);
  }
}

}  // namespace
