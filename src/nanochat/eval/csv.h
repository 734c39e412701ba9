// CSV as Python's csv.reader (default dialect) reads it: quoted fields, "" escapes, commas and newlines
// inside quotes, CRLF or LF line ends; rows that are entirely empty lines yield nothing. Used for the
// CORE bundle's eval_meta_data.csv and MMLU's CSV files.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace nanochat::eval {

// Throws Error naming `where` (and the line) for an unterminated quoted field.
std::vector<std::vector<std::string>> parse_csv(std::string_view text, std::string_view where);

}  // namespace nanochat::eval
