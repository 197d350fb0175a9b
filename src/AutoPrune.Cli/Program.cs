return AutoPrune.Cli.Cli.Run(AutoPrune.Cli.Cli.BuildRoot(), args);
