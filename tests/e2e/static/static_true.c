/* A statically linked program (built with -static): LD_PRELOAD never reaches
 * it, so the agent cannot enter it. `record` must refuse to run it (unless
 * told to run it untraced), and a traced program that execs it must leave a
 * MARK and a warning. Exits with the status given as argv[1] (default 0). */
#include <stdlib.h>

int main(int argc, char** argv) { return argc > 1 ? atoi(argv[1]) : 0; }
