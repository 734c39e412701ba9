// The chat-stage tasks: SpellingBee / SimpleSpelling against draws computed with CPython 3.11's
// random.Random on a fixed word list (so the RNG call order and the templates are the original's),
// SmolTalk loading (JSONL, ShareGPT/FastChat, parquet shards, validation), MMLU auxiliary_train, and our identity
// conversations through CustomJSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/eval/tasks/custom_json.h"
#include "nanochat/eval/tasks/mmlu_auxiliary_train.h"
#include "nanochat/eval/tasks/smoltalk.h"
#include "nanochat/eval/tasks/spelling_bee.h"
#include "nanochat/eval/tasks/task_data.h"
#include "nanochat/tokenizer/chat_format.h"
#include "test_support.h"

using namespace nanochat;
using namespace nanochat::eval::tasks;
namespace fs = std::filesystem;

namespace {

// The word list the Python vectors were drawn from (mixed case, an apostrophe, non-ASCII letters).
const std::vector<std::string> kWords = {"strawberry", "Mississippi", "banana", "O'Neill",   "Asunci\u00f3n", "apple",
                                         "zebra",      "committee",   "a",      "bookkeeper", "\u00c5ngstr\u00f6m", "Llama"};

WordList words() { return std::make_shared<const std::vector<std::string>>(kWords); }

std::string user_of(const nlohmann::json& conv) { return conv["messages"][0]["content"].get<std::string>(); }

}  // namespace

TEST(SpellingBee, UserMessagesMatchCPythonDraws) {
  SpellingBee bee(words(), 2000, "train");
  // (index, user message, answer) from CPython 3.11 running the original's get_example on kWords.
  const std::vector<std::tuple<int, std::string, int>> expected = {
      {0, "count the number of \"r\" in 'zebra'?", 1},
      {1, "how many times is 'b' in 'banana'", 1},
      {2, "Find the count of \"b\" in 'strawberry'?", 1},
      {3, "In \"O'Neill\", count the '''", 1},
      {7, "apple\ub77c\ub294 \ub2e8\uc5b4\uc5d0 \"m\"\uac00 \uba87 \uac1c?", 0},
      {42, "count all the \"t\" in \u00c5ngstr\u00f6m", 1},
      {1234, "committee\u8fd9\u4e2a\u8bcd\u91cc\u6709\u591a\u5c11\"o\"?", 1},
  };
  for (const auto& [i, user, count] : expected) {
    const auto conv = bee.at(i);
    EXPECT_EQ(user_of(conv), user) << "example " << i;
    const auto& parts = conv["messages"][1]["content"];
    ASSERT_EQ(parts.size(), 5u);
    EXPECT_EQ(parts[3]["type"], "python_output");
    EXPECT_EQ(parts[3]["text"], std::to_string(count)) << "example " << i;
    EXPECT_EQ(parts[4]["text"].get<std::string>(),
              "\n\nPython gives us " + std::to_string(count) + ".\n\nMy final answer is:\n\n#### " + std::to_string(count));
  }
}

TEST(SpellingBee, AssistantPartsFollowTheTemplate) {
  SpellingBee bee(words(), 10, "train");
  const auto conv = bee.at(0);  // word "zebra", letter "r"
  const auto& parts = conv["messages"][1]["content"];
  EXPECT_EQ(parts[0]["type"], "text");
  EXPECT_EQ(parts[0]["text"].get<std::string>(),
            "We are asked to find the number 'r' in the word 'zebra'. Let me try a manual approach first.\n\n"
            "First spell the word out:\nzebra:z,e,b,r,a\n\nThen count the occurrences of 'r':\n"
            "1:z\n2:e\n3:b\n4:r hit! count=1\n5:a\n\nThis gives us 1.");
  EXPECT_EQ(parts[1]["text"], "\n\nLet me double check this using Python:\n\n");
  EXPECT_EQ(parts[2]["type"], "python");
  EXPECT_EQ(parts[2]["text"], "'zebra'.count('r')");
  // The verdict is GSM8K's: the number after "#### ".
  EXPECT_TRUE(bee.evaluate(conv, "so #### 1"));
  EXPECT_FALSE(bee.evaluate(conv, "#### 2"));
  EXPECT_FALSE(bee.evaluate(conv, "one"));
  EXPECT_EQ(bee.eval_type(), EvalType::generative);
}

TEST(SpellingBee, NonAsciiWordsCountCodePoints) {
  SpellingBee bee(words(), 100, "train");
  const auto parts = bee.at(42)["messages"][1]["content"];  // "Ångström", letter "t"
  const std::string manual = parts[0]["text"];
  EXPECT_NE(manual.find("\u00c5ngstr\u00f6m:\u00c5,n,g,s,t,r,\u00f6,m\n"), std::string::npos) << manual;
  EXPECT_NE(manual.find("1:\u00c5\n"), std::string::npos);
  EXPECT_NE(manual.find("5:t hit! count=1\n"), std::string::npos);
  EXPECT_NE(manual.find("8:m\n"), std::string::npos);
}

TEST(SpellingBee, TestSplitSeedsFollowTheChosenRule) {
  SpellingBee train(words(), 100, "train"), test_v010(words(), 100, "test");
  SpellingBee test_later(words(), 100, "test", SpellingTestSeed::offset_10m);
  // v0.1.0 seeds test example i with -(i+1), which CPython folds to i+1.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(test_v010.at(i), train.at(i + 1));
  EXPECT_EQ(spelling_seed("test", 3, SpellingTestSeed::offset_10m), 10'000'003);
  EXPECT_NE(test_later.at(0), train.at(1));
  EXPECT_THROW(SpellingBee(words(), 10, "val"), Error);
  EXPECT_THROW((void)train.at(100), Error);
}

TEST(SpellingBee, TemplatesAreTheOriginals) {
  ASSERT_EQ(kSpellingBeeTemplates.size(), 51u);
  EXPECT_EQ(kSpellingBeeTemplates[0], "How many {letter} are in the word {word}");
  EXPECT_EQ(kSpellingBeeTemplates[29], "Calculate the number of {letter} in {word}");
  EXPECT_EQ(kSpellingBeeTemplates[30], "\u00bfCu\u00e1ntas {letter} hay en {word}?");
  EXPECT_EQ(kSpellingBeeTemplates[50], "{word}\u306b{letter}\u304c\u4f55\u56de\u51fa\u3066\u304f\u308b");
  for (auto t : kSpellingBeeTemplates) {
    EXPECT_NE(t.find("{letter}"), std::string_view::npos) << t;
    EXPECT_NE(t.find("{word}"), std::string_view::npos) << t;
  }
}

TEST(SimpleSpelling, MatchesCPythonDraws) {
  SimpleSpelling simple(kWords, 200, "train");
  const std::vector<std::pair<int, std::string>> expected = {
      {0, "Llama:L,l,a,m,a"}, {1, "banana:b,a,n,a,n,a"}, {5, "strawberry:s,t,r,a,w,b,e,r,r,y"}, {99, "Llama:L,l,a,m,a"}};
  for (const auto& [i, answer] : expected) {
    const auto conv = simple.at(i);
    EXPECT_EQ(conv["messages"][1]["content"], answer) << "example " << i;
    EXPECT_EQ(user_of(conv), "Spell the word: " + answer.substr(0, answer.find(':')));
  }
}

TEST(WordList, ReadsStrippedLinesInOrderAndNamesAMissingFile) {
  test::TempDir dir;
  const fs::path p = dir.path() / "words.txt";
  write_file_atomic(p, "  alpha\nbeta \r\ngamma");
  EXPECT_EQ(load_word_list(p), (std::vector<std::string>{"alpha", "beta", "gamma"}));
  try {
    load_word_list(dir.path() / "nope.txt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos);
  }
}

TEST(WordList, DebianWamericanGivesExamples) {
  if (!fs::exists(kDefaultWordListPath)) GTEST_SKIP() << "no " << kDefaultWordListPath << " (apt-get install wamerican)";
  const auto list = std::make_shared<const std::vector<std::string>>(load_word_list(kDefaultWordListPath));
  EXPECT_GT(list->size(), 50000u);
  SpellingBee bee(list, 1000, "train");
  for (int i = 0; i < 50; ++i) {
    const auto conv = bee.at(i);
    EXPECT_FALSE(user_of(conv).empty());
  }
}

TEST(SmolTalk, ReadsJsonlAndShareGptAndValidates) {
  test::TempDir dir;
  std::string jsonl;
  for (int i = 0; i < 10; ++i)
    jsonl += nlohmann::json{{"messages",
                             {{{"role", "user"}, {"content", "q" + std::to_string(i)}},
                              {{"role", "assistant"}, {"content", "a" + std::to_string(i)}}}}}
                 .dump() +
             "\n";
  jsonl += R"({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})"
           "\n";
  jsonl += R"({"conversations": [{"from": "human", "value": "who?"}, {"from": "gpt", "value": "me"}]})"
           "\n";
  write_file_atomic(dir.path() / "train.jsonl", jsonl);
  SmolTalk st(dir.path(), "train");
  ASSERT_EQ(st.size(), 12);
  int system = 0, sharegpt = 0;
  for (int64_t i = 0; i < st.size(); ++i) {
    const auto m = st.at(i)["messages"];
    system += m[0]["role"] == "system";
    sharegpt += m[0]["content"] == "who?";
  }
  EXPECT_EQ(system, 1);
  EXPECT_EQ(sharegpt, 1);
  // HF .shuffle(seed=42) order, not file order.
  std::vector<std::string> firsts;
  for (int64_t i = 0; i < st.size(); ++i) firsts.push_back(st.at(i)["messages"][0]["content"]);
  const auto order = shuffled_order(12);
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] < 10) {
      EXPECT_EQ(firsts[i], "q" + std::to_string(order[i])) << i;
    }
  }
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));

  write_file_atomic(dir.path() / "test.jsonl",
                    R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})"
                    "\n");
  try {
    SmolTalk bad(dir.path(), "test");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test.jsonl row 0 message 1"), std::string::npos) << e.what();
  }
  fs::create_directories(dir.path() / "x" / "train");
  EXPECT_THROW(SmolTalk(dir.path() / "x", "train"), Error);  // a directory without any shard
}

namespace {

fs::path smoltalk_fixture(const std::string& name) {
  return fs::path(NANOCHAT_SOURCE_DIR) / "tests" / "data" / "fixtures" / name;
}

}  // namespace

// smol-smoltalk as HF publishes it (pyarrow, list<struct<content, role>>): the same conversations
// and the same shuffled order as the pyarrow rows exported to JSONL.
TEST(SmolTalk, ReadsParquetLikeItsJsonlExport) {
  test::TempDir dir;
  fs::copy_file(smoltalk_fixture("smoltalk_expected.jsonl"), dir.path() / "train.jsonl");
  const SmolTalk from_jsonl(dir.path(), "train");
  const SmolTalk from_parquet(smoltalk_fixture("smoltalk_snappy.parquet"), "train");
  ASSERT_EQ(from_parquet.size(), 300);
  ASSERT_EQ(from_jsonl.size(), 300);
  for (int64_t i = 0; i < 300; ++i) ASSERT_EQ(from_parquet.at(i), from_jsonl.at(i)) << i;
  // Shuffled, and every 7th source row starts with its system prompt.
  const auto order = shuffled_order(300);
  for (int64_t i = 0; i < 300; ++i) {
    const auto m = from_parquet.at(i)["messages"];
    const int64_t row = order[static_cast<size_t>(i)];
    EXPECT_EQ(m[0]["role"], row % 7 == 0 ? "system" : "user") << i;
    EXPECT_EQ(m.back()["content"], fmt::format("answer {}.{}", row, row % 3)) << i;
  }
}

TEST(SmolTalk, ResolvesParquetShardLayouts) {
  test::TempDir dir;
  const fs::path shard = smoltalk_fixture("smoltalk_snappy.parquet");
  // HF repository snapshot: data/<split>-NNNNN-of-MMMMM.parquet, read in name order.
  fs::create_directories(dir.path() / "hf" / "data");
  fs::copy_file(shard, dir.path() / "hf" / "data" / "train-00001-of-00002.parquet");
  fs::copy_file(shard, dir.path() / "hf" / "data" / "train-00000-of-00002.parquet");
  fs::copy_file(shard, dir.path() / "hf" / "data" / "test-00000-of-00001.parquet");
  const auto files = SmolTalk::resolve_files(dir.path() / "hf", "train");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "train-00000-of-00002.parquet");
  EXPECT_EQ(SmolTalk::resolve(dir.path() / "hf", "train"), files[0]);
  EXPECT_EQ(SmolTalk(dir.path() / "hf", "train").size(), 600);
  EXPECT_EQ(SmolTalk(dir.path() / "hf", "test").size(), 300);
  // Shards directly in the directory, or in a <split>/ folder.
  fs::create_directories(dir.path() / "flat");
  fs::copy_file(shard, dir.path() / "flat" / "test-00000-of-00001.parquet");
  EXPECT_EQ(SmolTalk(dir.path() / "flat", "test").size(), 300);
  EXPECT_THROW(SmolTalk(dir.path() / "flat", "train"), Error);
  fs::create_directories(dir.path() / "split" / "train");
  fs::copy_file(shard, dir.path() / "split" / "train" / "part-0.parquet");
  EXPECT_EQ(SmolTalk(dir.path() / "split", "train").size(), 300);
  // A JSONL export next to the shards wins.
  write_file_atomic(dir.path() / "hf" / "train.jsonl",
                    R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})"
                    "\n");
  EXPECT_EQ(SmolTalk(dir.path() / "hf", "train").size(), 1);
  try {
    SmolTalk(dir.path() / "empty", "train");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data/train-*.parquet"), std::string::npos) << e.what();
  }
}

TEST(SmolTalk, ParquetNullsAreValidationErrorsNamingTheRow) {
  // The edge file: [one message], null, [], [null], ... -- its first row already fails.
  const fs::path edge = smoltalk_fixture("smoltalk_edge_nulls.parquet");
  try {
    SmolTalk bad(edge, "train");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("smoltalk_edge_nulls.parquet row 0: SmolTalk messages need at least 2"),
              std::string::npos)
        << e.what();
  }
  using parquet::StructList;
  using parquet::StructRow;
  using Messages = std::vector<std::optional<StructRow>>;
  const auto expect_row_error = [](const StructList& messages, const std::string& fragment) {
    try {
      smoltalk_conversation(smoltalk_row_from_parquet(messages, "f.parquet row 7"), "f.parquet row 7");
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  const StructRow user{"user", "q"}, assistant{"assistant", "a"};
  expect_row_error(std::nullopt, "f.parquet row 7: SmolTalk messages must be a non-empty list");
  expect_row_error(Messages{}, "f.parquet row 7: SmolTalk messages must be a non-empty list");
  expect_row_error(Messages{user, std::nullopt}, "f.parquet row 7 message 1: expected a JSON object");
  expect_row_error(Messages{StructRow{"user", std::nullopt}, assistant},
                   "f.parquet row 7 message 0: missing string field 'content'");
  expect_row_error(Messages{user, StructRow{std::nullopt, "a"}},
                   "f.parquet row 7 message 1: missing string field 'role'");
  expect_row_error(Messages{user, StructRow{"assistant", "\xff"}},
                   "f.parquet row 7 message 1: content is not valid UTF-8");
  const auto ok = smoltalk_conversation(smoltalk_row_from_parquet(Messages{user, assistant}, "ok"), "ok");
  EXPECT_EQ(ok, nlohmann::json::parse(
                    R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})"));
}

TEST(SmolTalk, ReadsFastChatConversations) {
  NC_REQUIRE_SHARED(file, "data/chat-conversations/dummy_conversation.json");
  SmolTalk st(file, "train");
  EXPECT_EQ(st.size(), 500);
  const auto m = st.at(0)["messages"];
  EXPECT_EQ(m[0]["role"], "user");
  EXPECT_EQ(m[1]["role"], "assistant");
}

TEST(MMLUAuxiliaryTrain, ReadsCsvFolder) {
  test::TempDir dir;
  write_file_atomic(dir.path() / "race.csv", "\"Q1, with comma\",a,b,c,d,B\nQ2,a,b,c,d,D\n");
  write_file_atomic(dir.path() / "arc_easy.csv", "Q3,a,b,c,d,A\n");
  MMLUAuxiliaryTrain aux(dir.path());
  ASSERT_EQ(aux.size(), 3);
  std::set<std::string> answers;
  for (int64_t i = 0; i < 3; ++i) answers.insert(aux.at(i)["messages"][1]["content"].get<std::string>());
  EXPECT_EQ(answers, (std::set<std::string>{"A", "B", "D"}));
  write_file_atomic(dir.path() / "bad.csv", "Q,a,b,c,d,E\n");
  EXPECT_THROW(MMLUAuxiliaryTrain{dir.path()}, Error);
}

TEST(IdentityConversations, LoadThroughCustomJsonAndRender) {
  const fs::path file = fs::path(NANOCHAT_SOURCE_DIR) / "data" / "identity_conversations.jsonl";
  CustomJSON identity(file);
  EXPECT_GE(identity.size(), 30);
  EXPECT_LE(identity.size(), 60);
  const Tokenizer tok = Tokenizer::from_merges({});
  bool mentions_cpp = false;
  for (int64_t i = 0; i < identity.size(); ++i) {
    const auto conv = identity.at(i);
    const auto r = render_conversation(tok, conv);
    EXPECT_GT(r.ids.size(), 10u);
    mentions_cpp |= conv.dump().find("nanochat.cpp") != std::string::npos;
  }
  EXPECT_TRUE(mentions_cpp);
}
