// SPDX-License-Identifier: MIT
#include "xarch.h"

int cmd_binfmt(int argc, char **argv)
{
	return die("'binfmt' is not implemented yet");
}
