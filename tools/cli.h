/* vireo CLI: one file per subcommand, each an int cmd_X(int argc, char **argv). */
#ifndef VIREO_TOOLS_CLI_H
#define VIREO_TOOLS_CLI_H

int cmd_cpu(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

#endif
