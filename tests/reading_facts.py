"""Two sets of 12 one-sentence facts about fictional entities, each with a question and its answer."""

SET_A = [
    ("Rex is the dog of the Halvorsen family.", "What is the name of the Halvorsen family's dog?", "Rex"),
    ("Mira Okonkwo was born in the city of Tallinn.", "In which city was Mira Okonkwo born?", "Tallinn"),
    ("The Zephyr Tower in Brenmoor is 312 meters tall.", "How tall is the Zephyr Tower?", "312"),
    ("Captain Ilse Varga commands the ship Northern Lark.", "Which ship does Captain Ilse Varga command?",
     "Northern Lark"),
    ("The favourite fruit of Tomas Quill is the mango.", "What is Tomas Quill's favourite fruit?", "mango"),
    ("Dr. Anya Petrov works at the Solberg Institute.", "Where does Dr. Anya Petrov work?", "Solberg"),
    ("The Kestrel River flows into Lake Amaru.", "Into which lake does the Kestrel River flow?", "Amaru"),
    ("Professor Leon Fairweather teaches chemistry.", "What subject does Professor Leon Fairweather teach?",
     "chemistry"),
    ("The band Copper Owls released the album Night Harbor.", "Which album did the Copper Owls release?",
     "Night Harbor"),
    ("Jonas Brekke drives a red tractor.", "What colour is Jonas Brekke's tractor?", "red"),
    ("The password for the Orchid vault is lantern.", "What is the password for the Orchid vault?", "lantern"),
    ("Elena Sorrel plays the cello in the Vireo Quartet.", "Which instrument does Elena Sorrel play?", "cello"),
]

SET_B = [
    ("Oskar Lindqvist keeps a parrot named Pico.", "What is the name of Oskar Lindqvist's parrot?", "Pico"),
    ("The Marlow Bridge was built in 1887.", "When was the Marlow Bridge built?", "1887"),
    ("Sana Haddad speaks fluent Portuguese.", "Which language does Sana Haddad speak fluently?", "Portuguese"),
    ("The bakery Golden Crumb is on Wren Street.", "On which street is the Golden Crumb bakery?", "Wren"),
    ("Felix Arden's sister is called Maren.", "What is the name of Felix Arden's sister?", "Maren"),
    ("The planet Tavos has three moons.", "How many moons does the planet Tavos have?", "three"),
    ("Grete Holm collects antique clocks.", "What does Grete Holm collect?", "clocks"),
    ("The train to Ostrava leaves from platform 9.", "From which platform does the train to Ostrava leave?", "9"),
    ("Ravi Menon's car is a green Volvo.", "What car does Ravi Menon drive?", "Volvo"),
    ("The Azure Gallery closes at 6 pm on Sundays.", "When does the Azure Gallery close on Sundays?", "6"),
    ("Lina Ferreira is allergic to peanuts.", "What is Lina Ferreira allergic to?", "peanut"),
    ("The wifi password at the Pine Lodge is otter77.", "What is the wifi password at the Pine Lodge?", "otter77"),
]
