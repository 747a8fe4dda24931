// placeholder until the stage has code
