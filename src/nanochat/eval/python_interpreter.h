// Locating the Python interpreter the sandbox runs. The sandbox's environment holds only PATH, so a
// wrapper script (a pyenv shim needs PYENV_* and its own PATH) would not work inside it: wrappers are
// resolved once, outside the sandbox, to the interpreter they start (sys.executable).
#pragma once
#include <optional>
#include <string>

namespace nanochat::eval {

// `configured`: a path or a command name; empty = $NANOCHAT_PYTHON, else "python3". Names without a
// slash are looked up on the caller's PATH. Returns an absolute path to an executable binary, or
// nullopt when none is found. Results are cached per request.
std::optional<std::string> resolve_python_interpreter(const std::string& configured);

}  // namespace nanochat::eval
