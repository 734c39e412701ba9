// Command-line flags in the original's argparse style: --kebab-case with "=" or a space, optional
// single-letter aliases (-n 4, -n4), -1 sentinels left to the caller. Each flag is bound to a
// variable whose initial value is the default shown by --help. Unknown flags, missing values,
// malformed numbers and values outside `choices` throw UsageError naming the flag (exit code 2).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace nanochat {

class ArgParser {
 public:
  ArgParser(std::string prog, std::string description);

  // `names` is "--long" or "-s,--long". Returns *this for chaining.
  ArgParser& add(std::string_view names, int64_t* value, std::string help);
  ArgParser& add(std::string_view names, int* value, std::string help);
  ArgParser& add(std::string_view names, double* value, std::string help);
  ArgParser& add(std::string_view names, std::string* value, std::string help,
                 std::vector<std::string> choices = {});
  ArgParser& add(std::string_view names, std::optional<int64_t>* value, std::string help);
  ArgParser& add(std::string_view names, std::optional<std::string>* value, std::string help);
  ArgParser& add_switch(std::string_view names, bool* value, std::string help);  // store_true
  // Positional arguments, consumed in order; `required` ones must be present.
  ArgParser& add_positional(std::string name, std::string* value, std::string help, bool required = true);

  // Parses args (not including the program/subcommand name). Returns false when --help/-h was given
  // (the help text has been printed to stdout); throws UsageError on bad input.
  bool parse(const std::vector<std::string>& args);

  std::string help_text() const;
  bool was_set(std::string_view long_name) const;
  // Every flag with its final value as text, in declaration order (for logs and user_config).
  std::vector<std::pair<std::string, std::string>> values() const;
  const std::string& prog() const { return prog_; }

 private:
  using Target = std::variant<int64_t*, int*, double*, std::string*, std::optional<int64_t>*,
                              std::optional<std::string>*, bool*>;
  struct Flag {
    std::string long_name, short_name, help, default_text;
    Target target;
    std::vector<std::string> choices;
    bool set = false;
  };
  struct Positional {
    std::string name, help;
    std::string* value;
    bool required;
  };
  ArgParser& add_flag(std::string_view names, Target target, std::string help, std::vector<std::string> choices = {});
  Flag* find_long(std::string_view name);
  Flag* find_short(std::string_view name);
  void assign(Flag& flag, std::string_view text);
  static std::string value_text(const Target& target);

  std::string prog_, description_;
  std::vector<Flag> flags_;
  std::vector<Positional> positionals_;
};

// Strict number parsing shared by the flag parser and config readers; throw UsageError naming `what`.
int64_t parse_int(std::string_view text, std::string_view what);
double parse_double(std::string_view text, std::string_view what);

}  // namespace nanochat
