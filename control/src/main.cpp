// postern: entry point; everything lives in postern::control::run.
#include "postern/control/cli.hpp"

int main(int argc, char** argv) {
  return postern::control::run(argc, argv);
}
