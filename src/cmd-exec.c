// SPDX-License-Identifier: MIT
#include "xarch.h"

int cmd_exec(int argc, char **argv)
{
	return die("'exec' is not implemented yet");
}
