"""The 459-name PASCAL-Context full list, FOR SYNTHETIC DATA ONLY.

The real labels.txt is read from the user's context_dir. Here: the names recalled from the
public list (not authoritative; order alphabetical) padded with clearly marked placeholders to
459 entries, so that synthetic LabelMaps use full-list indices the way the real ones do.
"""

from zoo.classes import CONTEXT59_CLASSES, RENAMED

FULL_LIST_SIZE = 459
_RECALLED = """accordion aeroplane air_conditioner antenna artillery ashtray atrium baby_carriage
bag
ball ballon bamboo_weaving barrel baseball_bat basket basketball_backboard bathtub bed bedclothes
beer bell bench bicycle binoculars bird bird_cage bird_feeder bird_nest blackboard board boat bone
book bottle bottle_opener bowl box bracelet brick bridge broom brush bucket building bus cabinet
cabinet_door cage cake calculator calendar camel camera camera_lens can candle candle_holder cap
car card cart case casette_recorder cash_register cat cd cd_player ceiling cell_phone cello chain
chair chessboard chicken chopstick clip clippers clock closet cloth clothes_tree coffee
coffee_machine comb computer concrete cone container control_booth controller cooker
copying_machine coral cork corkscrew counter court cow crabstick crane crate cross crutch cup
curtain cushion cutting_board dais disc disc_case dishwasher dock dog dolphin door drainer dray
drink_dispenser drinking_machine drop drug drum drum_kit duck dumbbell earphone earrings egg
electric_fan electric_iron electric_pot electric_saw electronic_keyboard engine envelope equipment
escalator exhibition_booth extinguisher eyeglass fan faucet fax_machine fence ferris_wheel
fire_extinguisher fire_hydrant fire_place fish fish_tank fishbowl fishing_net fishing_pole flag
flagstaff flame flashlight floor flower fly foam food footbridge forceps fork forklift fountain fox
frame fridge frog fruit funnel furnace game_controller game_machine gas_cylinder gas_hood gas_stove
gift_box glass glass_marble globe glove goal grandstand grass gravestone ground guardrail guitar
gun hammer hand_cart handle handrail hanger hard_disk_drive hat hay headphone heater helicopter
helmet holder hook horse horse-drawn_carriage hot-air_balloon hydrovalve ice inflator_pump ipod
iron ironing_board jar kart kettle key keyboard kitchen_range kite knife knife_block ladder
ladder_truck ladle laptop leaves lid life_buoy light light_bulb lighter line lion lobster lock
machine mailbox mannequin map mask mat match_book mattress menu metal meter_box microphone
microwave mirror missile model money monkey mop motorbike mountain mouse mouse_pad
musical_instrument napkin net newspaper oar ornament outlet oven oxygen_bottle pack pan paper
paper_box paper_cutter parachute parasol parterre patio pelage pen pen_container pencil person
photo piano picture pig pillar pillow pipe pitcher plant plastic plate platform player playground
pliers plume poker poker_chip pole pool_table postcard poster pot pottedplant printer projector
pumpkin rabbit racket radiator radio rail rake ramp range_hood receiver recorder
recreational_machines remote_control road robot rock rocket rocking_horse rope rug ruler runway
saddle sand saw scale scanner scissors scoop screen screwdriver sculpture scythe sewer
sewing_machine shed sheep shell shelves shoe shopping_cart shovel sidecar sidewalk sign
signal_light sink skateboard ski sky sled slippers smoke snail snake snow snowmobiles sofa spanner
spatula speaker speed_bump spice_container spoon sprayer squirrel stage stair stapler stick
sticky_note stone stool stove straw stretcher sun sunglass sunshade surveillance_camera swan
sweeper swim_ring swimming_pool swing switch table tableware tank tap tape tarp telephone
telephone_booth tent tire toaster toilet tong tool toothbrush towel toy toy_car track train
trampoline trash_bin tray tree tricycle tripod trophy truck tube turtle tvmonitor tweezers
typewriter umbrella unknown vacuum_cleaner vending_machine video_camera video_game_console
video_player video_tape violin wakeboard wall wallet wardrobe washing_machine watch water
water_dispenser water_pipe water_skate_board watermelon whale wharf wheel wheelchair window
window_blinds wineglass wire wood wool"""


def full_names() -> list[str]:
    """459 names (spaces as in labels.txt): recalled ones, then 'synthetic placeholder NNN'."""
    names = [n.replace("_", " ") for n in _RECALLED.split()]
    needed = {RENAMED.get(n, n) for n in CONTEXT59_CLASSES}
    missing = needed - set(names)
    assert not missing, missing
    names = names[:FULL_LIST_SIZE]
    names += [f"synthetic placeholder {i:03d}" for i in range(len(names) + 1, FULL_LIST_SIZE + 1)]
    return names
