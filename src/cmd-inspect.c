// SPDX-License-Identifier: MIT
#include "xarch.h"

int cmd_inspect(int argc, char **argv)
{
	return die("'inspect' is not implemented yet");
}
