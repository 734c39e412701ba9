#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/data/dataset.h"
#include "nanochat/data/document_source.h"
#include "nanochat/data/document_stream.h"
#include "nanochat/data/html_text.h"
#include "nanochat/data/parquet_reader.h"
#include "test_support.h"

using namespace nanochat;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> all_docs(const std::vector<fs::path>& files, const DocumentSourceOptions& o = {}) {
  std::vector<std::string> out;
  for_each_document_batch(files, 7, [&](std::vector<std::string>& b) {
    for (auto& d : b) out.push_back(d);
    return true;
  }, o);
  return out;
}
}  // namespace

TEST(HtmlText, KeepsTextDropsMarkupAndDecodesReferences) {
  const std::string html =
      "<html><head><title>T</title><style>p {color: red}</style></head><body>"
      "<h1>Title &amp; more</h1><p>First <b>bold</b> para&#8217;s text.</p>"
      "<script>var x = '<p>no</p>';</script><!-- a comment <p> -->"
      "<pre>line 1\nline 2</pre><p>caf&#xE9; &lt;tag&gt; &bogus; &nbsp;end</p></body></html>";
  const std::string text = html_to_text(html);
  EXPECT_EQ(text,
            "Title & more\n\nFirst bold para\u2019s text.\n\nline 1\nline 2\n\ncaf\u00e9 <tag> &bogus; \u00a0end");
}

TEST(DocumentSource, GroupsParagraphsIntoDocumentsWithinAFile) {
  test::TempDir dir;
  std::string a;
  for (int i = 0; i < 300; ++i) a += "Paragraph " + std::to_string(i) + " has a few words in it.\n\n";
  write_file_atomic(dir.path() / "a.txt", a);
  write_file_atomic(dir.path() / "b.txt", "Short file.\n");
  const auto docs = all_docs(resolve_document_files(dir.path().string()));
  ASSERT_GE(docs.size(), 3u);
  EXPECT_EQ(docs.back(), "Short file.\n");  // never merged across files
  std::string joined;
  for (size_t i = 0; i + 1 < docs.size(); ++i) {
    EXPECT_LE(docs[i].size(), 4096u + 64u);
    joined += docs[i];
  }
  // Every paragraph survives, in order, separated by single blank lines inside documents.
  EXPECT_NE(joined.find("Paragraph 0 has a few words in it.\n\nParagraph 1 "), std::string::npos);
  EXPECT_NE(joined.find("Paragraph 299 has"), std::string::npos);
}

TEST(DocumentSource, SkipsBinaryFilesAndReadsGzipAndHtml) {
  test::TempDir dir;
  write_file_atomic(dir.path() / "index.dat", std::string("\x00\x01\x02text", 7));
  write_file_atomic(dir.path() / "page.html", "<p>Hello <i>web</i></p>");
  const std::string gz_path = (dir.path() / "notes.rst.gz").string();
  {
    const std::string cmd = "printf 'zipped words\\n' | gzip -c > '" + gz_path + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  const auto files = resolve_document_files(dir.path().string());
  EXPECT_EQ(files.size(), 2u);  // index.dat skipped
  const auto docs = all_docs(files);
  EXPECT_EQ(docs, (std::vector<std::string>{"zipped words\n", "Hello web\n"}));
}

TEST(DocumentSource, ShardDirectoriesIgnoreNonParquetAndDropTheValShard) {
  NC_REQUIRE_SHARED(shards, "data/shards");
  const auto files = resolve_document_files(shards.string());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "shard_00000.parquet");
  EXPECT_EQ(files[1].filename(), "shard_00001.parquet");
  DocumentSourceOptions all;
  all.exclude_val_shard = false;
  EXPECT_EQ(resolve_document_files(shards.string(), all).size(), 3u);
}

TEST(Dataset, DownloadJobsFollowTheOriginalLayout) {
  const auto& cm = dataset_spec("climbmix");
  auto jobs = dataset_download_jobs(cm, 2, "/d");
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].url, "https://huggingface.co/datasets/karpathy/climbmix-400b-shuffle/resolve/main/shard_00000.parquet");
  EXPECT_EQ(jobs[2].dest, fs::path("/d/shard_06542.parquet"));  // the fixed validation shard
  EXPECT_EQ(dataset_download_jobs(cm, -1, "/d").size(), 6543u);
  const auto& fw = dataset_spec("fineweb-edu");
  jobs = dataset_download_jobs(fw, 3, "/d", "http://127.0.0.1:9/x");
  ASSERT_EQ(jobs.size(), 3u);  // legacy: no fixed val shard
  EXPECT_EQ(jobs[2].url, "http://127.0.0.1:9/x/shard_00002.parquet");
  EXPECT_EQ(dataset_download_jobs(fw, -1, "/d").size(), 1823u);
  EXPECT_THROW(dataset_spec("pile"), UsageError);
}

TEST(Dataset, WriteShardsRoundTripsEveryDocumentAndKeepsAValShard) {
  test::TempDir dir;
  std::vector<std::string> docs;
  for (int i = 0; i < 5000; ++i) docs.push_back("document " + std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'x'));
  ShardingOptions opt;
  const auto report = write_shards(docs, dir.path() / "s", opt);
  EXPECT_EQ(report.documents, 5000);
  EXPECT_GE(report.shards, 2);
  EXPECT_EQ(report.row_group_size_used, 5000 / 8);  // small corpus: 2 shards x 4 row groups at least
  const auto shards = list_parquet_shards(dir.path() / "s");
  EXPECT_EQ(static_cast<int64_t>(shards.size()), report.shards);
  std::multiset<std::string> back;
  for (size_t s = 0; s < shards.size(); ++s) {
    parquet::ParquetFile f(shards[s]);
    for (int rg = 0; rg < f.num_row_groups(); ++rg) {
      const auto texts = f.read_text_column(rg);
      if (s + 1 < shards.size()) {
        EXPECT_EQ(static_cast<int64_t>(texts.size()), report.row_group_size_used);  // full row groups but the last
      }
      back.insert(texts.begin(), texts.end());
    }
  }
  EXPECT_EQ(back, std::multiset<std::string>(docs.begin(), docs.end()));
  // Never overwrite existing shards.
  EXPECT_THROW(write_shards(docs, dir.path() / "s", opt), Error);
  // Same seed, same order.
  write_shards(docs, dir.path() / "t", opt);
  EXPECT_EQ(parquet::ParquetFile(dir.path() / "t" / "shard_00000.parquet").read_text_column(0),
            parquet::ParquetFile(shards[0]).read_text_column(0));
}
